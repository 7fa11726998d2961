"""The "Förklaring" block of a summary sheet: what each value in the list means, and what
the recipient does next.

A list is sent to a skolpliktshandläggare, a rektor or an avgiftshandläggare who has not
been trained in this system; the block explains, in the list itself, every value that can
appear in it (with the policy's own thresholds) and the next step the law or the
municipality's routine expects. The values are shown as the list shows them (`labels`).
"""

from __future__ import annotations

import pandas as pd

from skyddsnat.lists.labels import LABELS, label
from skyddsnat.policy import Policy

COLUMNS = ["varde", "forklaring"]

STATUS = [
    ("ny", "Ärendet fanns inte i förra leveransen."),
    ("kvarstar", "Ärendet fanns redan i förra leveransen och är inte löst. Ett ärende som "
                 "har lösts försvinner från listan och redovisas under \"Avslutade ärenden\"."),
]

# The escalation ladder of the municipality's plan for school attendance (seeds): from the
# first contact with the home to the anmälan to the huvudman in step 5.
TRAPPAN = ("Frånvarotrappan: steg 1 kontakt med hemmet; steg 2 kartläggning med "
           "elevhälsan; steg 3 utredning av frånvaron (7 kap. 19 a §); steg 4 stödinsatser "
           "och uppföljning; steg 5 anmälan till huvudman – ärendet lyfts då från rektor till "
           "skolchef och vidare till nämnden, som kan besluta om vite (7 kap. 23 §).")


def forklaring(kind: str, policy: Policy) -> pd.DataFrame:
    """The block for a list kind (skolplikt, franvaro, atgardsprogram, inkomstkontroll, or a
    board table: kommunbild, atgardsprogram_kommun)."""
    rows = _ROWS[kind](policy)
    return pd.DataFrame([(label(v) if v in LABELS else v, text) for v, text in rows],
                        columns=COLUMNS)


def _skolplikt(p: Policy) -> list[tuple[str, str]]:
    grace = p.skolplikt.grace_days
    return [
        ("Om listan", "Barn som är folkbokförda i kommunen och har skolplikt, men som enligt "
                      "registren inte säkert fullgör den. Hemkommunen ska se till att "
                      "skolplikten fullgörs (7 kap. 21 § skollagen); andra huvudmän ska "
                      "anmäla till hemkommunen när en elev börjar eller slutar hos dem "
                      "(7 kap. 22 §)."),
        ("okand", "Ingen placering och inget beslut om skolpliktens fullgörande finns. Fråga "
                  "fristående skolor och andra kommuner om barnet är elev hos dem; kontakta "
                  "sedan vårdnadshavarna. Går barnet inte i skolan: utred och överväg "
                  "föreläggande (7 kap. 23 §)."),
        ("placering_avslutad", "Barnets senaste placering är avslutad och ingen ny finns. "
                               "Kontakta skolan i kolumnen Skolenhet(er) och fråga vart "
                               "eleven gick; saknas besked, kontakta vårdnadshavarna."),
        ("nyinflyttad", f"Folkbokförd i kommunen för mindre än {grace} dagar sedan, utan "
                        "placering. Bevaka: har barnet ingen placering när tiden gått, "
                        "kontakta vårdnadshavarna."),
        ("dubbel_placering", "Barnet har två eller fler aktiva placeringar samtidigt – det går "
                             "troligen i skolan, men registret säger emot sig självt. Kontakta "
                             "skolorna i kolumnen Skolenhet(er) så att den placering som "
                             "upphört avslutas."),
        *STATUS,
        ("Datakvalitet", "Bladet Datakvalitet räknar registerfel per skolenhet (utan namn): "
                         f"{label('narvaro_utan_placering')} – eleven har närvaro men ingen "
                         "aktiv placering; "
                         f"{label('placering_okand_person')} – placering hos annan huvudman "
                         "för en person som inte är folkbokförd här. Lämna dem till "
                         "registeransvarig."),
    ]


def _franvaro(p: Policy) -> list[tuple[str, str]]:
    f = p.franvaro
    lv, days = f.nivaer, f.hog_sammanhangande_dagar
    return [
        ("Om listan", "Elever på skolenheten vars frånvaro har nått en nivå under terminen "
                      f"hittills eller de senaste {f.senaste_dagar} dagarna, värst först. "
                      "Rektorn ska se till att upprepad eller längre frånvaro skyndsamt "
                      "utreds, i samråd med eleven, vårdnadshavarna och elevhälsan, och "
                      "anmäla till huvudmannen (7 kap. 19 a § skollagen)."),
        ("hog", f"Frånvaro minst {lv['hog']:g} % eller minst {days} hela dagar i följd. "
                "Utredningsplikt: starta utredningen om den inte redan pågår."),
        ("oroande", f"Frånvaro minst {lv['oroande']:g} %. Kontakta vårdnadshavarna och "
                    "ta upp eleven i elevhälsoteamet."),
        ("uppmarksamma", f"Frånvaro minst {lv['uppmarksamma']:g} %. Mentorn kontaktar eleven "
                         "och vårdnadshavarna."),
        ("Skäl", "Varför eleven står på listan: "
                 f"{label('hog_franvaro')}, {label('oroande_franvaro')} eller "
                 f"{label('uppmarksamma_franvaro')} efter den högsta nivån; "
                 f"{label('lang_franvaro')} = minst {days} hela frånvarodagar i följd; "
                 f"{label('ogiltig_franvaro')} = ogiltig frånvaro minst "
                 f"{f.ogiltig_flagga_procent:g} %, även när nivå saknas. Kontakta hemmet "
                 "samma dag som ogiltig frånvaro uppstår."),
        ("Utredningsplikt", "Ja när nivån är Hög, eller när ogiltig frånvaro finns i en "
                            f"frånvaro som nått {lv['uppmarksamma']:g} %: utredningen ska "
                            "göras (7 kap. 19 a §)."),
        ("hog_utan_arende", "Eleven är på nivå Hög men finns inte i ärenderegistret. Öppna "
                            "ett frånvaroärende (steg 1)."),
        ("anmalan_till_huvudman", f"Ärendet har nått steg {f.trappa_anmalan_steg}: anmälan "
                                  "till huvudman är gjord. Skolchefen har ärendet; skolan "
                                  "fortsätter stödet."),
        ("Frånvarotrappan", TRAPPAN),
        *STATUS,
    ]


def _atgardsprogram(p: Policy) -> list[tuple[str, str]]:
    return [
        ("Om listan", "Elever med betyget F i minst ett ämne under betygsterminen, som saknar "
                      "åtgärdsprogram på skolenheten. Riskerar en elev att inte nå "
                      "kunskapskraven ska behovet av stöd utredas och, vid behov, ett "
                      "åtgärdsprogram beslutas av rektorn (3 kap. 7–9 §§ skollagen)."),
        ("f_utan_atgardsprogram", "Minst ett F (ämnena står i kolumnen Ämnen med F) och inget "
                                  "åtgärdsprogram som gäller terminen. Utred behovet av "
                                  "särskilt stöd och besluta om åtgärdsprogram."),
        ("streck_och_franvaro", "Streck (-) i minst ett ämne, dvs. underlag saknas för betyg, "
                                "och frånvaro minst "
                                f"{p.franvaro.streck_franvaro_procent:g} % under terminen. "
                                "Eleven kan ha 0 F: frånvaron är troligen skälet till att "
                                "underlag saknas. Utred frånvaron och behovet av stöd."),
        *STATUS,
    ]


def _inkomstkontroll(p: Policy) -> list[tuple[str, str]]:
    tol = p.maxtaxa.tolerans_kr_per_ar
    return [
        ("Om listan", "Hushåll vars debiterade avgift inte stämmer med den fastställda "
                      "inkomsten (Skatteverket) för inkomståret. Varje debiterad månad är "
                      "omräknad med den månadens regler (maxtaxa). Differens = korrekt avgift "
                      "– debiterat."),
        ("efterdebitering", f"Hushållet har betalat mer än {tol} kr för lite under året. "
                            "Skicka beslut om efterdebitering med månadsdetaljerna."),
        ("aterbetalning", f"Hushållet har betalat mer än {tol} kr för mycket under året. "
                          "Betala tillbaka."),
        ("saknar_inkomstuppgift", "Det saknas fastställd inkomst för någon betalare eller "
                                  "medbetalare. Begär in uppgiften innan något beslutas."),
        ("obekraftad_taxa", f"Hushållet har betalat mer än {tol} kr för lite, men omräkningen "
                            "använder en maxtaxa-period som inte är bekräftad mot "
                            "Skolverkets besked (kolumnen Maxtaxan bekräftad = nej). Avvakta "
                            "bekräftelsen innan något beslutas."
                            + (" Policyn tillåter ändå efterdebitering."
                               if p.maxtaxa.efterdebitering_obekraftad_taxa else "")),
        ("inom_tolerans", f"Differens högst ±{tol} kr: ingen åtgärd. Räknas i "
                          "sammanfattningen men står inte på listan."),
        ("Signaler", "Bladet Signaler visar mönster som bör kontrolleras, till exempel "
                     f"{label('barn_i_flera_hushall').lower()}. En signal är ingen "
                     "anklagelse och inget beslut: kontrollera uppgifterna och kontakta "
                     "hushållet vid behov."),
        *STATUS,
    ]


def _kommunbild(p: Policy) -> list[tuple[str, str]]:
    u = p.undertryckning
    lv = p.franvaro.nivaer
    return [
        ("Om tabellen", "Antal elever per skolenhet, årskurs och månad, och hur många av dem "
                        f"som hade minst {lv['uppmarksamma']:g}, {lv['oroande']:g} och "
                        f"{lv['hog']:g} % frånvaro den månaden. Elever med skyddade "
                        "personuppgifter är inte med."),
        (u.symbol, f"Antal 1–{u.k - 1}, och celler som annars skulle gå att räkna ut, visas "
                   f"som {u.symbol} så att ingen enskild elev kan pekas ut."),
    ]


def _atgardsprogram_kommun(p: Policy) -> list[tuple[str, str]]:
    u = p.undertryckning
    return [
        ("Om tabellen", "Per skolenhet, senaste betygsterminen: elever med minst ett F, med "
                        "åtgärdsprogram, med F utan åtgärdsprogram och med streck (-). Elever "
                        "med skyddade personuppgifter är inte med."),
        (u.symbol, f"Antal 1–{u.k - 1}, och celler som annars skulle gå att räkna ut, visas "
                   f"som {u.symbol}."),
    ]


_ROWS = {"skolplikt": _skolplikt, "franvaro": _franvaro, "atgardsprogram": _atgardsprogram,
         "inkomstkontroll": _inkomstkontroll, "kommunbild": _kommunbild,
         "atgardsprogram_kommun": _atgardsprogram_kommun}
