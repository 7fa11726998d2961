"""The policies rendered for a privacy officer: a register of processing (GDPR art. 30).

One document model (sections of paragraphs and tables) rendered as Markdown or HTML, so both
always say the same thing.
"""

from __future__ import annotations

import base64
import hashlib
import html
from dataclasses import dataclass, field

from skyddsnat.policy import Policy
from skyddsnat.privacy.seal import SUITE_NAME

KLASS = {"direkt_identifierare": "Direkt identifierare", "kvasi_identifierare":
         "Indirekt identifierare", "kanslig": "Känslig/integritetskänslig", "operativ": "Operativ"}
BEHANDLING = {"pseudonymiseras": "Ersätts med nyckelad pseudonym vid inläsning",
              "valv": "Endast krypterad i identitetsvalvet", "behalls": "Behålls i pseudonyma "
              "tabeller", "tas_bort": "Läses inte vidare"}
FALT = {"personnummer": "personnummer", "fornamn": "förnamn", "efternamn": "efternamn",
        "utdelningsadress": "adress", "postnummer": "postnummer", "postort": "postort"}


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[tuple[list[str], list[list[str]]]] = field(default_factory=list)


def document(p: Policy) -> list[Section]:
    s = []
    s.append(Section("Registerförteckning – Skyddsnät", [
        f"Policyversion {p.version}. Personuppgiftsansvarig: barn- och utbildningsnämnden. "
        "Behandlingen avser barn och elever 0–18 år, deras vårdnadshavare och "
        "avgiftsskyldiga (betalare och medbetalare) i kommunen.",
    ]))
    rows = []
    for name, route in p.mottagare.listor.items():
        role = p.mottagare.roller[route.mottagare]
        fields = ", ".join(FALT.get(f, f) for f in route.identitet) or "inga (endast aggregat)"
        rows.append([name, role.beskrivning, role.andamal, role.rattslig_grund, fields])
    s.append(Section("Mottagare, ändamål och rättslig grund", [
        "Varje lista går till en roll. Rollen får högst de identitetsuppgifter som anges; "
        "adressuppgifter lämnas endast till den förseglade mottagaren."],
        [(["Lista", "Mottagare", "Ändamål", "Rättslig grund", "Identitetsuppgifter"], rows)]))
    officer = p.mottagare.roller[p.mottagare.forseglad_mottagare]
    s.append(Section("Skyddade personuppgifter", [
        "Personer med " + " eller ".join(p.skydd.markeringar).replace("_", " ") +
        ", och alla i samma hushåll (barn, vårdnadshavare, medbetalare), förekommer aldrig i "
        "allmänna listor – inte heller som antal, skola eller årskurs.",
        f"Deras uppgifter förseglas med HPKE (RFC 9180: {SUITE_NAME}) till "
        f"{officer.beskrivning.lower()}s publika nyckel. Driftmiljön "
        "har bara den publika nyckeln och kan aldrig läsa dem igen.",
    ]))
    s.append(_freshness_section(p))
    for source, cols in p.klassning.items():
        rows = [[c, KLASS[v.klass], BEHANDLING[v.behandling]] for c, v in cols.items()]
        s.append(Section(f"Källa: {source}", [], [(["Kolumn", "Klass", "Behandling"], rows)]))
    g = p.gallring
    s.append(Section("Lagringstid (gallring)", [
        f"Behandlade inkorgsfiler och karantänrader: arkiv förseglat med HPKE till "
        f"{p.mottagare.roller[g.arkiv_forvarare].beskrivning.lower()} ("
        + (f"granskad nyckel {_fingerprint(g.arkiv_nyckel)}" if g.arkiv_nyckel else
           "den publika nyckeln i nyckelkatalogen")
        + f"); driftmiljön kan inte läsa det. Arkivet gallras efter {g.arkiv_dagar} dagar.",
        "Listor med personuppgifter gallras ur utkorgen efter "
        + ", ".join(f"{k}: {d} dagar" for k, d in sorted(g.listor_dagar.items()))
        + f" (övriga listor {g.listor_dagar_standard} dagar); varje natts lista ersätter "
        "föregående natts. Varje gallring förs in i revisionsloggen.",
        ("Inkorgen: en behandlad och arkiverad export tas bort ur inkorgen när körningen som "
         "arkiverade den har lyckats; det som senare nätter behöver finns kvar pseudonymiserat."
         if g.inkorg_rensas == "efter_lyckad_korning" else
         "Inkorgen: behandlade exporter tas inte bort av Skyddsnät (rensas av driften)."),
        f"Leveransen i övrigt (manifest, nämndens tabeller): gallras ur utkorgen efter "
        f"{g.utkorg_dagar} dagar.",
        f"Identitetsvalvet: en person som ingen källa har nämnt på {g.valv_dagar} dagar tas "
        "bort ur valvet, även en förseglad identitet; gallringen förs in i revisionsloggen.",
        "Revisionsloggen (återidentifieringar och leveranser) sparas minst "
        f"{g.revisionslogg_ar} år.",
        f"Hanteringsanvisning på varje lista: {g.hanteringsanvisning}",
    ]))
    u = p.undertryckning
    s.append(Section("Säkerhetsåtgärder", [
        "Personnummer ersätts vid inläsning med HMAC-SHA256-pseudonymer; all analys sker på "
        "pseudonymer.",
        "Namn, adresser och personnummer finns endast i identitetsvalvet, krypterade med "
        "AES-256-GCM per post med nyckel-id (rotation och omkryptering).",
        f"Publicerade antal 1–{u.k - 1} undertrycks ({u.symbol}), med sekundär undertryckning "
        f"så att inget värde kan räknas fram ur summor; andelar över färre än "
        f"{u.minsta_bas_andel} elever visas som {u.symbol}.",
        (f"Gruppröjande: ett antal c av en grupp om n undertrycks också när c > 0 och "
         f"n − c < {u.k} (alla, eller alla utom färre än {u.k}, har egenskapen)."
         if u.komplement else
         "Gruppröjande antal (alla eller nästan alla i gruppen har egenskapen) undertrycks "
         "inte (komplement: false)."),
        "Varje publicerad tabell (kommunbilden, åtgärdsprogramtabellen och nämndsidans "
        "diagram) granskas före leverans med linjärprogrammering över allt som publiceras "
        "(summor och nästlingen antal_20 ≤ antal_15 ≤ antal_10 ≤ antal_elever): ingen "
        f"undertryckt cell får kunna räknas fram eller avgränsas till 1–{u.k - 1}; annars "
        "stoppas leveransen. Varje cells status (publicerad, primär, sekundär, komplement) "
        "står på bladet Cellstatus.",
        "Varje återidentifiering och leverans förs in i en hashkedjad revisionslogg.",
    ]))
    return s


TYP = {"ogonblicksbild": "ögonblicksbild", "daglig": "en fil per skoldag",
       "manatlig": "månadsfil", "arlig": "årsfil", "termin": "terminsfil"}


def _freshness_section(p: Policy) -> Section:
    rows = []
    for name, k in p.kallor.kallor.items():
        n = k.max_alder_dagar
        age = ("aldrig inaktuell (perioden anges på listan)" if n is None
               else f"{n} {'dag' if n == 1 else 'dagar'}")
        need = "valfri" if k.valfri or n is None else "krävs"
        rows.append([name, TYP[k.typ], need, age,
                     "stoppar natten" if k.vid_avvikelse == "stoppa"
                     else "varning på berörda listor",
                     str(k.min_rader) if k.min_rader else "-",
                     f"{100 * k.max_minskning_andel:g} %" if k.max_minskning_andel else "-",
                     (f"{100 * k.min_andel_elever:g} % av medianen för {k.jamforelsedagar} "
                      "skoldagar") if k.min_andel_elever else "-"])
    return Section("Källor: färskhet och rimlighet", [
        "En källa som saknas, är äldre än tillåtet mot referensdagen eller är orimligt liten "
        "stoppar natten före leverans (förra leveransen och ärendehistoriken lämnas orörda), "
        "eller levereras med en varning överst på varje lista som vilar på den. Filer daterade "
        "efter referensdagen läses inte för den dagen.",
        "Skollov (franvaro.yaml, lov) räknas inte in i närvarons ålder: " + (
            ", ".join(f"{b.fran}–{b.till}" for b in p.franvaro.lov) or "inga angivna")
        + "."],
        [(["Källa", "Typ", "Krav", "Högsta ålder", "Vid avvikelse", "Minst rader",
           "Högsta minskning mot senast godkända", "Dagfil minst"], rows)])


def explain_markdown(p: Policy, extra: tuple[Section, ...] = ()) -> str:
    out = []
    for i, sec in enumerate([*document(p), *extra]):
        out.append(("# " if i == 0 else "## ") + sec.title + "\n")
        out.extend(par + "\n" for par in sec.paragraphs)
        for header, rows in sec.tables:
            out.append("| " + " | ".join(header) + " |")
            out.append("|" + "---|" * len(header))
            out.extend("| " + " | ".join(r) + " |" for r in rows)
            out.append("")
    return "\n".join(out)


def explain_html(p: Policy, extra: tuple[Section, ...] = ()) -> str:
    e = html.escape
    out = ['<!doctype html><html lang="sv"><head><meta charset="utf-8">',
           "<title>Registerförteckning – Skyddsnät</title>",
           "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
           "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;"
           "text-align:left;vertical-align:top}</style></head><body>"]
    for i, sec in enumerate([*document(p), *extra]):
        tag = "h1" if i == 0 else "h2"
        out.append(f"<{tag}>{e(sec.title)}</{tag}>")
        out.extend(f"<p>{e(par)}</p>" for par in sec.paragraphs)
        for header, rows in sec.tables:
            out.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>")
            out.extend("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows)
            out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out)


def _fingerprint(b64_key: str) -> str:
    """The SHA-256 fingerprint a reviewer compares with the custodian's own key."""
    return hashlib.sha256(base64.b64decode(b64_key)).hexdigest()[:16]
