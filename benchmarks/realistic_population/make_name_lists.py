"""Rebuild the name frequency lists in data/ (run by hand; the output is committed).

    pip install faker names        # in a scratch virtualenv, not the project's
    python benchmarks/realistic_population/make_name_lists.py

Why the lists are built this way (the generator must not be tuned to the model):

- **surnames of the White British majority**: the 500 weighted British surnames of
  Faker's ``en_GB`` person provider (MIT; its weights follow the frequencies of
  British surnames: Smith, Jones, Taylor, Brown, Williams ... at the head), then the
  long tail from the 1990 US census surname list shipped by the ``names`` package
  (MIT; public-domain census data: 88,799 surnames with frequencies), names not
  already present, each weight scaled into the British list and capped at the
  weight of its 200th name, so a US-only name never becomes common here;
- **given names of the majority** (children born 2008-2025): the head is written
  here from the ONS baby-name rankings of those years (rank order only, the
  weights are Zipf 1/rank), the tail from the US census first-name lists (4,275
  female, 1,219 male), about 30% of the weight, capped the same way;
- **the city's other communities** (Pakistani, Bangladeshi, Gujarati and Sikh Indian,
  Nigerian and Ghanaian, Somali, Caribbean, Polish and Romanian): names written
  here in rough order of frequency, Zipf-weighted, with the heavy concentration
  of real communities (Khan, Hussain, Ali, Ahmed; Begum and Bibi for women and
  girls; Patel; Singh and Kaur; Mohamed), and spelling families left as separate
  names (Muhammad, Mohammed, Mohammad, Muhammed), as agencies write them.

Nothing here is about a real person: these are frequency lists of names.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

OUT = Path(__file__).resolve().parent / "data"
TAIL_SURNAMES = 6000
TAIL_GIVEN = 1500

# ONS top names for babies born in England and Wales 2008-2023, majority forms.
WHITE_BRITISH_GIVEN = {
    "M": """Oliver Jack Harry George Noah Charlie Jacob Alfie Freddie Oscar Leo Arthur Thomas
    William James Joshua Henry Archie Theo Logan Ethan Joseph Daniel Samuel Lucas Max Isaac
    Alexander Edward Finley Dylan Harrison Riley Mason Lewis Tommy Jake Adam Luke Teddy Reggie
    Albie Ronnie Frankie Jayden Tyler Kai Toby Benjamin Sebastian Louie Matthew Ryan Liam
    Jenson Elliot Hugo Rory Jude Stanley Bobby Louis Ellis Callum Nathan Connor Kyle Bailey
    Cameron Owen Ben Harvey Jamie Aaron Zachary Leon Ashton Corey Kian Brandon Rhys Jordan
    Caleb Ezra Ollie Billy Jaxon Carter Hunter Elijah Michael David Sonny Rowan Oakley Ralph
    Arlo Frederick Dexter Austin Harley Blake Alex Lenny Jesse Tobias Roman Mohammed Ryder
    Charles Jasper Finn Felix Vincent Nathaniel Jenson Caden Aiden Kayden Brody Bradley Declan
    Evan Gabriel Jackson Jay Josh Joe Kieran Lucas Marcus Morgan Nico Reuben Robert Sam Seth
    Spencer Sidney Travis Zac""",
    "F": """Olivia Amelia Isla Ava Emily Sophia Grace Mia Poppy Ella Lily Evie Isabella Sophie
    Ivy Freya Harper Willow Charlotte Jessica Chloe Daisy Alice Phoebe Florence Sienna Ruby
    Millie Evelyn Matilda Rosie Elsie Isabelle Erin Lucy Scarlett Holly Megan Hannah Eva
    Imogen Layla Maisie Lola Summer Esme Bella Emma Katie Lexi Molly Amber Lacey Ellie Eleanor
    Georgia Darcey Harriet Elizabeth Zara Aria Maya Luna Ada Violet Rose Ellie-May Lily-Rose
    Gracie Bethany Leah Jasmine Abigail Madison Paige Niamh Caitlin Lauren Amy Rebecca Hollie
    Kayla Nevaeh Mollie Thea Orla Heidi Edith Mila Penelope Eliza Beatrice Hallie Margot Nancy
    Darcie Robyn Faith Skye Tilly Aimee Alexa Anna Ayla Bonnie Brooke Cerys Eden Elise Elena
    Emilia Georgie Jade Julia Kacey Keira Lilly Macie Maddison Martha Maria Nell Olive Pippa
    Rhianna Riley Sadie Sara Sofia Tia Victoria Zoe""",
}

COMMUNITIES: dict[str, dict[str, str]] = {
    "pakistani": {
        "M": """Muhammad Mohammed Ibrahim Hamza Yusuf Ayaan Zain Ali Musa Ahmed Umar Abdullah
        Hassan Hussain Zayn Idris Adam Isa Rayyan Haris Bilal Usman Zakariya Yahya Talha Arham
        Ismail Ayub Amaan Danyal Faizan Haider Imran Junaid Kashif Mikail Nabeel Omar Rehan
        Saad Sami Shayan Subhan Taimur Uzair Waleed Yasir Zohaib Abdul Aryan Aahil Ehsan
        Hamdan Huzaifa Mustafa Raheem Rizwan Zaid Mohammad Muhammed Zakaria Yousuf Ahmad
        Harris Ayan Rayan Zayan Eesa Essa Ibraheem Mikael Hasan Husnain Abubakar Safyan Arslan""",
        "F": """Maryam Fatima Aisha Zainab Hafsa Khadija Amina Hana Inaya Zara Eman Aleena Ayesha
        Sana Mariam Safa Marwa Hiba Iqra Laiba Mahnoor Noor Rida Sara Zoya Alishba Anaya Areeba
        Dua Eshal Haniya Hareem Javeria Kinza Manahil Minahil Nimra Rabia Sadia Samira Sumaya
        Tayyaba Umaima Zunaira Aiza Aliyah Amna Hadiya Humaira Ifrah Madiha Mehwish Aleeza
        Anaaya Hannah Haleema Fatimah Aishah Zaynab Khadijah Amelia Ayla Hajra Mehak Musfirah
        Zahra Hira Iman Rania Safiya""",
        "surname": """Khan Hussain Ali Ahmed Akhtar Iqbal Mahmood Butt Shah Malik Rashid
        Mohammed Aslam Hussein Javed Riaz Sadiq Nawaz Rehman Rafiq Saddique Anwar Bashir Akram
        Younis Arshad Latif Zaman Qureshi Raja Mirza Chaudhry Yousaf Ashraf Hanif Hameed Aziz
        Jabbar Majid Mehmood Nazir Rasool Tariq Zafar Shabir Sajid Siddique Karim Saleem Iftikhar
        Ismail Hussan Mahmood-Khan Chaudhary Abbas Akbar Azam Bibi:F Begum:F Parveen:F Kausar:F
        Sultana:F Kauser:F Noreen:F Yasmin:F Muhammad Naseem Rauf Rehman Sabir Sharif Shafiq""",
    },
    "bangladeshi": {
        "M": """Mohammed Muhammad Abdul Ibrahim Yusuf Ayaan Rayyan Zayn Ismail Sami Mahir Tahmid
        Tanvir Rahim Sakib Shahid Rafi Ariyan Safwan Nabil Fahim Jubayer Rahat Shahin Imran Arif
        Abir Nayeem Samiul Tamim Aminul Mizanur Rezaul Shafiq Habib Jamal Kamal Faisal Adnan
        Hamza Mohammad Yahya Zakaria Ayan Raihan Rayan Sahil Tahsin""",
        "F": """Fatima Aisha Maryam Sumaiya Tasnim Nusrat Ruksana Salma Farzana Jannat Sadia
        Tahmina Afsana Anika Sabrina Raisa Nafisa Lamia Maisha Samiha Tanisha Nadia Shirin
        Sharmin Rumana Shamima Halima Khadija Amina Mahi Safa Zara Inaya Hana Iqra Labiba Mim
        Nabila Rifat Sanjida Fatema Ayesha Sumaya Tasnia Zainab""",
        "surname": """Miah Uddin Ahmed Ali Islam Rahman Hussain Begum:F Khatun:F Akter:F
        Akhter:F Hoque Haque Chowdhury Khan Alam Hossain Rahim Karim Ullah Mia Choudhury Bibi:F
        Sultana:F Amin Kabir Hassan Sheikh Talukdar Bhuiyan Sarkar Mahmud Rashid Malik Molla
        Nessa:F Ara:F""",
    },
    "indian_gujarati": {
        "M": """Aarav Arjun Krish Dev Rohan Jay Rahul Vihaan Aryan Kian Yash Neel Harsh Karan
        Ravi Nikhil Sahil Om Aditya Ishaan Veer Shiv Ved Rishi Pranav Dhruv Tej Milan Nirav
        Parth Jai Anish Sachin Vikram Kiaan Reyansh Rudra Ayaan Hari Krishna""",
        "F": """Priya Anya Diya Riya Isha Anika Kavya Siya Aanya Meera Pooja Nisha Neha Shreya
        Tara Jiya Mira Asha Avni Khushi Sana Divya Krisha Nikita Roshni Saanvi Ishani Janvi
        Heer Pari Aarna Myra Riddhi Trisha""",
        "surname": """Patel Mistry Parmar Chauhan Solanki Shah Modi Desai Joshi Mehta Thakkar
        Lad Makwana Chavda Rathod Vaghela Gohil Bhatt Trivedi Pandya Kotecha Lakhani Amin Naik
        Dave Pathak Soni Panchal Valand Kara Vaghjiani Tailor Rana Bhakta""",
    },
    "indian_sikh": {
        "M": """Harjot Gurpreet Jaskaran Arjun Manpreet Harpreet Jaspreet Gurveer Harvinder
        Karanveer Amrit Ravinder Sukhdeep Jasdeep Taranjit Rajveer Jasveer Ekam Fateh Gurnoor
        Armaan Kabir Arjan Gurdeep Inderjit Jagdeep Mandeep Navdeep Parminder Arman Jovan""",
        "F": """Simran Harleen Jasleen Gurleen Amrit Manpreet Navneet Harpreet Jaspreet Prabhjot
        Kiran Harnoor Gurnoor Jasmine Sukhmani Ravneet Amanjot Mehtab Noor Taran Rajdeep
        Sandeep Balpreet Jasmeet Ishmeet Kirandeep Manjit Rupinder Gurkiran Amreen""",
        "surname": """Singh:M Kaur:F Gill Sandhu Sidhu Dhillon Johal Bains Sahota Atwal Grewal
        Kang Bassi Rai Sangha Virdi Dhaliwal Basra Bhamra Chahal Hayer Khela Mann Purewal
        Sohal""",
    },
    "black_african": {
        "M": """David Daniel Joshua Samuel Emmanuel Jayden Elijah Michael Caleb Nathan Ethan
        Isaac Tobi Tobias Oluwaseun Chidi Chinedu Kwame Kofi Kwabena Femi Ayo Tunde Jeremiah
        Josiah Malachi Kayden Nathaniel Victor Divine Godwin Ebuka Obinna Israel Daniel-Joseph
        Testimony Marvellous Ayomide Oluwatobi Kelvin Kenneth""",
        "F": """Grace Blessing Precious Favour Esther Deborah Abigail Faith Joy Mercy Chioma
        Adaeze Amara Ama Akosua Abena Ifeoma Ngozi Temi Tolu Zara Nia Imani Kemi Funmi Ruth
        Naomi Victoria Princess Success Goodness Zoe Hannah Sarah Oluwadamilola Ayomide
        Anuoluwapo Eniola Jessica""",
        "surname": """Okafor Adeyemi Okonkwo Mensah Osei Boateng Asante Owusu Adebayo Ogunleye
        Nwosu Eze Okeke Adeleke Afolabi Akinola Babatunde Chukwu Danso Darko Appiah Agyeman
        Opoku Addo Amoah Ansah Obi Olawale Kamara Conteh Bangura Sesay Koroma Mwangi Moyo
        Ndlovu Banda Phiri Oyelaran Ogundipe Adewale Ibekwe Nnamdi Oduya""",
    },
    "somali": {
        "M": """Mohamed Abdirahman Abdullahi Ahmed Ali Hassan Ibrahim Yusuf Omar Mustafa Abdi
        Khalid Hamza Bilal Zakariye Ayub Idris Salah Sharmarke Liban Mahad Farah Abdikarim
        Guled Hamse Mohamud Abdulahi Ismail""",
        "F": """Hodan Amina Fadumo Hawa Halima Khadija Sagal Ifrah Ayan Asha Faiza Sumaya Hibo
        Nimco Ilhan Samira Sahra Maryan Hafsa Hani Ruqiya Deqa Ladan Nasra Safiya Yasmin
        Fartun Muna""",
        "surname": """Mohamed Ahmed Ali Hassan Abdi Omar Ibrahim Yusuf Farah Hussein Osman
        Abdullahi Nur Warsame Jama Aden Adan Mohamud Isse Elmi Hersi Dahir Gure Egal Hirsi
        Abdirahman Duale Samatar Ismail Said""",
    },
    "black_caribbean": {
        "M": """Jayden Kai Tyrese Malachi Joshua Elijah Isaiah Daniel Jaden Reuben Zion Kyrie
        Marcus Andre Jerome Nathan Tyler Leon Jamal Rico Darnell Kemar Shaquille Tristan
        Amari Ezekiel Micah Jordan Theo Noah""",
        "F": """Nia Tiana Jada Shanice Kaliyah Amari Imani Aaliyah Zara Maya Ruby Leah Jasmine
        Chanel Tiffany Destiny Kiara Kayla Sienna Jessica Layla Mya Naomi Precious Shania
        Tanisha Tia Grace Olivia Amelia""",
        "surname": """Campbell Clarke Francis Grant Thomas Williams Brown Johnson Reid Morgan
        Henry Samuels Bailey Powell Gordon Lewis Walker Robinson Edwards Richards Hylton
        Bennett Simpson Allen Stewart Graham Wright Mitchell Blake Gayle McKenzie""",
    },
    "eastern_european": {
        "M": """Jakub Kacper Filip Szymon Jan Antoni Mateusz Bartosz Michał Wiktor Oliwer
        Aleksander Adam Piotr Nikola Andrei Alexandru Stefan Luca David Matei Darius Lukas
        Dominik Tomas Igor Oskar Gabriel Ionut Mihai Vlad Marius""",
        "F": """Zuzanna Julia Maja Zofia Hanna Lena Alicja Oliwia Amelia Wiktoria Natalia Maria
        Ioana Elena Andreea Alexandra Bianca Daria Emilia Gabriela Anastasia Sofia Amelia
        Nikola Kornelia Laura Patrycja Weronika""",
        "surname": """Nowak Kowalski Wiśniewski Wójcik Kowalczyk Kamiński Lewandowski
        Zieliński Szymański Woźniak Dąbrowski Kozłowski Mazur Krawczyk Popescu Popa Ionescu
        Pop Radu Dumitru Stan Stoica Gheorghe Matei Balogh Horvath Nagy Kovacs Petrov Ivanov
        Kazlauskas Jankauskas Berzins Jankowski Wojciechowski Kwiatkowski Kaczmarek Grabowski""",
    },
}

# Zipf exponents (given names, surnames): how concentrated each community's names are.
# Baby names of the majority are spread (the top name is 2-3% of a year's births);
# Pakistani, Bangladeshi, Somali and Gujarati surnames are very concentrated;
# Nigerian, Ghanaian and Polish surnames are many and spread.
# (Hussain or Khan about an eighth of British Pakistani surnames and the top ten
# about half; Patel about a quarter of Gujarati Hindu ones; Nowak well under 1%
# of Polish ones, whose long tail these short lists cannot hold, so flat.)
EXPONENTS = {
    "pakistani": (0.8, 0.9),
    "bangladeshi": (0.8, 0.9),
    "somali": (0.8, 1.0),
    "indian_gujarati": (0.7, 1.1),
    "indian_sikh": (0.7, 0.9),
    "black_african": (0.6, 0.4),
    "black_caribbean": (0.6, 0.5),
    "eastern_european": (0.7, 0.3),
}


def _zipf(names: list[str], s: float = 1.0) -> list[tuple[str, float]]:
    seen: dict[str, float] = {}
    for rank, name in enumerate(names, start=1):
        seen.setdefault(name, 1.0 / rank**s)
    return list(seen.items())


def _census(package_dir: Path, filename: str) -> list[tuple[str, float]]:
    out = []
    for line in (package_dir / filename).read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2:
            out.append((parts[0].title(), float(parts[1])))
    return out


def _with_tail(
    head: list[tuple[str, float]],
    tail: list[tuple[str, float]],
    limit: int,
    cap_rank: int,
    tail_share: float,
) -> list[tuple[str, float]]:
    """Head weights as given; the tail scaled to carry about `tail_share` of all
    weight, no tail name above the head's `cap_rank`-th weight."""
    names = {n for n, _ in head}
    cap = sorted((w for _, w in head), reverse=True)[min(cap_rank, len(head)) - 1]
    tail = [(n, w) for n, w in tail if n not in names][:limit]
    if not tail:
        return head
    head_total = sum(w for _, w in head)
    target = head_total * tail_share / (1 - tail_share)
    scale = target / sum(w for _, w in tail)
    return head + [(n, min(cap, w * scale)) for n, w in tail]


def main() -> None:
    from faker.providers.person.en_GB import Provider

    spec = importlib.util.find_spec("names")
    assert spec is not None and spec.origin is not None
    census = Path(spec.origin).parent
    OUT.mkdir(exist_ok=True)
    given_rows: list[str] = ["community\tsex\tname\tweight"]
    surname_rows: list[str] = ["community\tsex\tname\tweight"]
    tails = {
        "M": _census(census, "dist.male.first"),
        "F": _census(census, "dist.female.first"),
    }
    for sex, text in WHITE_BRITISH_GIVEN.items():
        head = _zipf(text.split(), 0.5)
        for name, weight in _with_tail(head, tails[sex], TAIL_GIVEN, 150, 0.3):
            given_rows.append(f"white_british\t{sex}\t{name}\t{weight:.6g}")
    uk = [(str(n), float(w)) for n, w in Provider.last_names.items()]
    uk.sort(key=lambda x: -x[1])
    for name, weight in _with_tail(uk, _census(census, "dist.all.last"), TAIL_SURNAMES, 200, 0.55):
        surname_rows.append(f"white_british\t\t{name}\t{weight:.6g}")
    for community, lists in COMMUNITIES.items():
        given_s, surname_s = EXPONENTS.get(community, (0.8, 0.8))
        for sex in ("M", "F"):
            for name, weight in _zipf(lists[sex].split(), given_s):
                given_rows.append(f"{community}\t{sex}\t{name}\t{weight:.6g}")
        for name_sex, weight in _zipf(lists["surname"].split(), surname_s):
            name, _, sex = name_sex.partition(":")
            surname_rows.append(f"{community}\t{sex}\t{name}\t{weight:.6g}")
    (OUT / "given_names.tsv").write_text("\n".join(given_rows) + "\n")
    (OUT / "surnames.tsv").write_text("\n".join(surname_rows) + "\n")
    print(f"{len(given_rows) - 1} given names, {len(surname_rows) - 1} surnames -> {OUT}")


if __name__ == "__main__":
    main()
