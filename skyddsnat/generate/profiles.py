"""Municipality profiles: the few numbers that size a synthetic municipality.

A profile is data, not code, so a test can pass a tiny custom one and the generator
scales every planted anomaly to it (with a floor, so even a tiny town has one of each).
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Profile:
    name: str
    kommunkod: str
    inhabitants: int
    children: int  # residents aged 0-18 in the population register
    own_school_units: int  # municipal grundskola units (F-6, F-9, 7-9)
    own_gy_units: int
    postorter: tuple[tuple[str, str], ...]  # (first three digits of postnummer, postort)
    streets: tuple[str, ...]
    other_kommunkoder: tuple[str, ...]  # where moved-out children are registered
    neighbour_names: tuple[str, ...]  # for annan_kommun placements
    diarie_prefix: str = "BUN"
    sportlov_week: int = 8
    own_share: float = 0.80  # of skolpliktiga in the municipality's own schools
    median_income: int = 380_000  # taxable income per adult and year
    other_kommun_share: float = 0.01  # children in the register with another kommunkod
    # How every export writes personnummer: shares of YYYYMMDDNNNC, YYYYMMDD-NNNC and
    # YYMMDD-NNNC ('+' for those 100 or older). None: the test mix (folkbokföring, decisions,
    # incomes, grades in 12 digits; placements, attendance, fees in pnr.DEFAULT_MIX).
    pnr_forms: tuple[float, float, float] | None = None
    centenarians: int = 0  # sambo co-payers aged 100+ (so the '+' form occurs)

    def scaled(self, rate: float, minimum: int) -> int:
        """How many of a planted anomaly: a rate of the children, never below the floor."""
        return max(minimum, round(rate * self.children))


_NORRLAND_STREETS = (
    "Storgatan", "Kyrkvägen", "Skolvägen", "Järnvägsgatan", "Parkvägen", "Norra vägen",
    "Södra vägen", "Ringvägen", "Björkvägen", "Tallvägen", "Granvägen", "Älvvägen",
    "Bergsgatan", "Sjövägen", "Stationsgatan", "Hembygdsvägen", "Solvägen", "Myrvägen",
    "Ljungvägen", "Östra vägen", "Västra vägen", "Forsvägen", "Åsvägen", "Timmervägen",
)

_STOCKHOLM_STREETS = (
    "Drottninggatan", "Sveavägen", "Götgatan", "Hornsgatan", "Sankt Eriksgatan",
    "Fleminggatan", "Odengatan", "Karlavägen", "Valhallavägen", "Folkungagatan", "Ringvägen",
    "Hantverkargatan", "Birger Jarlsgatan", "Upplandsgatan", "Tegnérgatan", "Bondegatan",
    "Åsögatan", "Skånegatan", "Vällingbyvägen", "Bergslagsvägen", "Spångavägen",
    "Hägerstensvägen", "Skärholmsvägen", "Farstavägen", "Sockenvägen", "Nynäsvägen",
    "Årstavägen", "Enskedevägen", "Huddingevägen", "Brommaplan", "Drottningholmsvägen",
    "Rinkebysvängen", "Tensta allé", "Husbygårdsgatan", "Kista allé", "Hässelby strand",
)

PROFILES: dict[str, Profile] = {
    "ange": Profile(
        name="ange",
        kommunkod="2260",
        inhabitants=9_000,
        children=1_700,
        own_school_units=6,
        own_gy_units=1,
        postorter=(("841", "ÅNGE"), ("840", "FRÄNSTA"), ("841", "LJUNGAVERK"),
                   ("841", "TORPSHAMMAR"), ("841", "ALBY")),
        streets=_NORRLAND_STREETS,
        other_kommunkoder=("2281", "2262", "2361", "2326"),
        neighbour_names=("Sundsvall", "Timrå", "Bräcke", "Ljusdal"),
        diarie_prefix="BUN",
        median_income=340_000,
    ),
    "stockholm": Profile(
        name="stockholm",
        kommunkod="0180",
        inhabitants=1_000_000,
        children=210_000,
        own_school_units=190,
        own_gy_units=25,
        postorter=(("11", "STOCKHOLM"), ("12", "JOHANNESHOV"), ("12", "ENSKEDE"),
                   ("12", "FARSTA"), ("12", "SKÄRHOLMEN"), ("12", "HÄGERSTEN"),
                   ("16", "BROMMA"), ("16", "VÄLLINGBY"), ("16", "SPÅNGA"),
                   ("16", "HÄSSELBY"), ("16", "KISTA")),
        streets=_STOCKHOLM_STREETS,
        other_kommunkoder=("0182", "0184", "0186", "0138", "0127", "0126"),
        neighbour_names=("Nacka", "Solna", "Lidingö", "Huddinge", "Sundbyberg", "Danderyd"),
        diarie_prefix="UTBN",
        sportlov_week=9,
        own_share=0.72,
        median_income=430_000,
    ),
}

# What real exports look like: mostly YYMMDD-NNNC, some 12 digits, a few YYMMDD+NNNC.
REALISTIC_FORMS = (0.12, 0.03, 0.85)


def realistic(profile: Profile) -> Profile:
    """The profile with every export's personnummer in the real-export mix (the bench's)."""
    return replace(profile, pnr_forms=REALISTIC_FORMS,
                   centenarians=max(profile.centenarians, profile.scaled(0.0002, 3)))


_STHLM = PROFILES["stockholm"]
# Twice Stockholm, for the bench's scaling table.
PROFILES["stockholm2x"] = realistic(replace(
    _STHLM, name="stockholm2x", inhabitants=2 * _STHLM.inhabitants,
    children=2 * _STHLM.children, own_school_units=2 * _STHLM.own_school_units,
    own_gy_units=2 * _STHLM.own_gy_units))

# About 300 inhabitants: every planted anomaly exists once, the run takes a second.
TINY = replace(PROFILES["ange"], name="tiny", inhabitants=300, children=90, own_school_units=2)


def resolve(profile: str | Profile) -> Profile:
    if isinstance(profile, Profile):
        return profile
    try:
        return PROFILES[profile]
    except KeyError:
        raise ValueError(f"unknown profile {profile!r}; known: {sorted(PROFILES)}") from None
