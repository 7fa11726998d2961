"""Swedish name pools, roughly ordered by frequency (the sampler weights them Zipf-like).

Children get names common among those born 2007-2026, adults those of 1965-2000; a share
of names common among Swedes with roots abroad keeps a Stockholm register realistic.
Every character is in Windows-1252, as the population-register export requires.
"""

from __future__ import annotations

import numpy as np

GIRLS = (
    "Alice", "Maja", "Elsa", "Astrid", "Vera", "Olivia", "Wilma", "Ebba", "Alma", "Selma",
    "Saga", "Ella", "Freja", "Agnes", "Lilly", "Stella", "Signe", "Clara", "Ellen", "Nora",
    "Ines", "Juni", "Elvira", "Tyra", "Leah", "Hedda", "Majken", "Ester", "Moa", "Emilia",
    "Linnéa", "Thea", "Isabelle", "Sofia", "Matilda", "Hanna", "Ida", "Julia", "Emma",
    "Molly", "Nellie", "Meja", "Siri", "Livia", "Märta", "Ronja", "Tilde", "Amira",
    "Fatima", "Sara", "Mariam", "Zoë", "Hiba", "Aya", "Nour", "Lejla", "Dalia",
)
BOYS = (
    "Noah", "William", "Hugo", "Liam", "Lucas", "Oliver", "Elias", "Alexander", "Adam",
    "Nils", "Leo", "Theo", "Vincent", "Oscar", "Frans", "Charlie", "Axel", "Melvin", "Ludvig",
    "Harry", "Sixten", "Ebbe", "Otto", "Alfred", "Elton", "Valter", "Arvid", "Gustav",
    "Filip", "Isak", "Emil", "Viktor", "Albin", "Anton", "Jonathan", "Olle", "Måns", "Love",
    "Sigge", "Edvin", "Malte", "Josef", "Björn", "Loke", "Mohammed", "Ali", "Omar", "Yusuf",
    "Ibrahim", "Hassan", "Abdi", "Elyas", "Amir", "Adrian", "Milo", "Kevin",
)
WOMEN = (
    "Anna", "Maria", "Sara", "Emma", "Karin", "Johanna", "Hanna", "Linda", "Sofia", "Emelie",
    "Lisa", "Jenny", "Malin", "Frida", "Camilla", "Jessica", "Elin", "Kristina", "Therese",
    "Josefin", "Caroline", "Ida", "Maja", "Cecilia", "Helena", "Sandra", "Matilda", "Linnéa",
    "Åsa", "Annika", "Ulrika", "Petra", "Sanna", "Mikaela", "Jonna", "Ylva", "Lena", "Marie",
    "Katarina", "Elisabeth", "Fatima", "Amina", "Leyla", "Nadia", "Rana", "Zahra", "Mina",
    "Ayan", "Hodan", "Agnieszka", "Ana", "Mirjana", "Rebecka", "Louise", "Märta", "Tove",
)
MEN = (
    "Johan", "Erik", "Anders", "Andreas", "Daniel", "Fredrik", "Mikael", "Peter", "Jonas",
    "Martin", "Magnus", "Niklas", "Stefan", "Mattias", "Marcus", "Alexander", "David",
    "Patrik", "Henrik", "Christoffer", "Tobias", "Joakim", "Robert", "Jens", "Oskar",
    "Sebastian", "Simon", "Viktor", "Emil", "Per", "Karl", "Lars", "Mats", "Göran", "Björn",
    "Jörgen", "Håkan", "Ola", "Pär", "Mohammed", "Ahmed", "Ali", "Hassan", "Omar",
    "Mustafa", "Abdullahi", "Mehmet", "Tomasz", "Dragan", "Nikola", "Juan", "Thanh",
)
SURNAMES = (
    "Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson",
    "Persson", "Svensson", "Gustafsson", "Pettersson", "Jonsson", "Jansson", "Hansson",
    "Bengtsson", "Jönsson", "Lindberg", "Jakobsson", "Magnusson", "Olofsson", "Lindström",
    "Lindqvist", "Lindgren", "Berg", "Axelsson", "Bergström", "Lundberg", "Lind", "Lundgren",
    "Lundqvist", "Mattsson", "Berglund", "Fredriksson", "Sandberg", "Henriksson", "Forsberg",
    "Sjöberg", "Wallin", "Engström", "Eklund", "Danielsson", "Lundin", "Håkansson",
    "Björk", "Bergman", "Gunnarsson", "Holm", "Wikström", "Samuelsson", "Isaksson",
    "Fransson", "Bergqvist", "Nyström", "Holmberg", "Arvidsson", "Löfgren", "Söderberg",
    "Nyberg", "Blomqvist", "Claesson", "Nordström", "Mårtensson", "Lundström", "Ali",
    "Mohamed", "Ahmed", "Hassan", "Hussein", "Abdi", "Yilmaz", "Nguyen", "Kaya", "Öberg",
    "Åberg", "Hägglund", "Bäckström", "Westerlund", "Strömberg", "Norberg", "Sundström",
    "Öhman", "Näslund", "Byström", "Åström", "Lidén", "Nordin", "Höglund", "Ågren",
)


def pick(rng: np.random.Generator, pool: tuple[str, ...], n: int) -> np.ndarray:
    """n names from pool, the first ones more common (weights 1/(rank+5))."""
    weights = 1.0 / (np.arange(len(pool)) + 5.0)
    idx = rng.choice(len(pool), size=n, p=weights / weights.sum())
    return np.asarray(pool, dtype=object)[idx]
