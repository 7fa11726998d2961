"""The `skyddsnat` command line: the contract for scripts and the nightly job outside the UI.

Every command prints messages without personal data and exits non-zero on failure. A
user-facing error is one Swedish line and no stack trace (`--debug` shows it); it never
falsely reassures: a missing data dir, an empty audit log or a wrong path fails.
"""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path

import typer

_DEBUG = {"on": "--debug" in sys.argv}
_QUICK_EXIT = {"on": False}  # set by a command that succeeded and left a large heap behind


class _Cli(typer.Typer):
    """Any unexpected error as one Swedish line (without its text: it may hold a value)."""

    def __call__(self, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except SystemExit as done:
            # Not under a profiler, tracer or coverage: they report after the program ends.
            if (_QUICK_EXIT["on"] and done.code in (0, None) and sys.getprofile() is None
                    and sys.gettrace() is None):
                _end_process()
            raise
        except Exception as exc:  # noqa: BLE001 - the point: no traceback for users
            if _DEBUG["on"]:
                raise
            typer.echo(f"FEL: oväntat fel ({type(exc).__name__}); kör igen med --debug för "
                       "detaljer", err=True)
            sys.exit(1)


def _end_process() -> None:
    """End a successful run's process without tearing its heap down object by object
    (1-2 s after a night); the exit handlers (log files, temporary dirs) still run first.
    Only the program's own entry comes here (`skyddsnat`, `python -m skyddsnat.cli`), never
    a test's in-process invocation."""
    import atexit
    import threading

    for thread in threading.enumerate():  # what the interpreter would wait for
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()
    os._exit(0)


app = _Cli(help="Skyddsnät – skyddsnät för barn och elever, med integriteten först.",
           no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
keys_app = typer.Typer(help="Nycklar: init, rotate, rewrap, rotate-pseudonym.",
                       no_args_is_help=True)
policy_app = typer.Typer(help="Policyer: check, explain.", no_args_is_help=True)
audit_app = typer.Typer(help="Revisionslogg: verify.", no_args_is_help=True)
archive_app = typer.Typer(help="Förseglat arkiv: restore.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(policy_app, name="policy")
app.add_typer(audit_app, name="audit")
app.add_typer(archive_app, name="archive")


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"FEL: {message}", err=True)
    raise typer.Exit(code)


@app.callback()
def _main(debug: bool = typer.Option(False, "--debug",
                                     help="Visa hela felet (stackspår) vid fel.")):
    _DEBUG["on"] = _DEBUG["on"] or debug
    home = os.environ.get("DAGSTER_HOME")
    if home and not Path(home).is_dir():
        _fail(f"DAGSTER_HOME pekar på {home}, som inte finns (skapa katalogen eller ta bort "
              "variabeln)", 2)


def _existing_data_dir(data_dir: Path, need_inbox: bool = False) -> None:
    """Refuse a data dir that is not there (nothing is created)."""
    if not data_dir.is_dir():
        _fail(f"datakatalogen {data_dir} finns inte (inget har skapats)", 2)
    if need_inbox and not (data_dir / "inbox").is_dir():
        _fail(f"datakatalogen {data_dir} har ingen inbox/ – fel katalog? (inget har skapats)", 2)


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        _fail("datum ska skrivas ÅÅÅÅ-MM-DD", 2)
        raise


@keys_app.command("init")
def keys_init(key_dir: Path = typer.Option(..., "--key-dir",
                                           help="Katalog för pipeline-nycklarna."),
              officer_key_out: Path = typer.Option(
                  ..., "--officer-key-out", help="Fil för den skyddsbehörigas privata nyckel."),
              force: bool = typer.Option(False, "--force", help="Skriv över befintliga nycklar.")):
    """Skapa pseudonymnyckel, valvets nyckelring och handläggarens nyckelpar."""
    from skyddsnat.privacy.keys import KeyProblem, init_keys

    try:
        init_keys(key_dir, officer_key_out, force=force)
    except KeyProblem as exc:
        _fail(str(exc))
    typer.echo(f"Nycklar skapade i {key_dir}. Privat nyckel: {officer_key_out} "
               "(lämna den till den särskilt behöriga handläggaren, inte till driften).")


@keys_app.command("rotate")
def keys_rotate(key_dir: Path = typer.Option(..., "--key-dir")):
    """Lägg till en ny valvnyckel och gör den aktiv (kör sedan `keys rewrap`)."""
    from skyddsnat.privacy.keys import KeyProblem, rotate_vault_key

    try:
        new_id = rotate_vault_key(key_dir)
    except KeyProblem as exc:
        _fail(str(exc))
    typer.echo(f"Ny aktiv valvnyckel: {new_id}. Kör `skyddsnat keys rewrap` för att flytta "
               "befintliga poster till den.")


@keys_app.command("rewrap")
def keys_rewrap(key_dir: Path = typer.Option(..., "--key-dir"),
                data_dir: Path = typer.Option(..., "--data-dir"),
                retire: bool = typer.Option(False, "--retire",
                                            help="Ta bort nycklar som inte längre används."),
                policy_dir: Path = typer.Option(None, "--policy-dir")):
    """Kryptera om valvet med den aktiva nyckeln (klartext lämnar aldrig processen).

    Arkivet är förseglat till förvararen och berörs inte; arkivfiler från före förseglingen
    förseglas här en gång."""
    from skyddsnat.layout import DataDir
    from skyddsnat.policy import DEFAULT_POLICY_DIR, load_policy
    from skyddsnat.privacy.archive import custodian_key, seal_legacy
    from skyddsnat.privacy.identity_store import key_ids_in_use, rewrap_vault
    from skyddsnat.privacy.keys import KeyProblem, load_keys, retire_vault_keys, verify_against_data

    data = DataDir(data_dir)
    try:
        keys = load_keys(key_dir)
        verify_against_data(keys, data.state)
        counts = rewrap_vault(keys, data.vault)
        policy = load_policy(policy_dir or DEFAULT_POLICY_DIR)
        legacy = seal_legacy(keys, custodian_key(keys, policy), data.archive)
        if retire:
            dropped = retire_vault_keys(key_dir, key_ids_in_use(data.vault))
            typer.echo(f"Borttagna nycklar: {', '.join(dropped) or 'inga'}")
    except KeyProblem as exc:
        _fail(str(exc))
    typer.echo(f"Omkrypterat: {counts['poster']} valvposter till {keys.vault_active}"
               + (f"; {legacy} äldre arkivfiler förseglade." if legacy else "."))


@keys_app.command("rotate-pseudonym")
def keys_rotate_pseudonym(key_dir: Path = typer.Option(..., "--key-dir"),
                          data_dir: Path = typer.Option(..., "--data-dir")):
    """Ny pseudonymnyckel: varje lagrad pseudonym nycklas om (även förseglade personers),
    ärende-id och status följer med. Avbruten? Kör kommandot igen."""
    from skyddsnat.privacy.keys import KeyProblem
    from skyddsnat.privacy.vault import VaultTampered
    from skyddsnat.rotation import rotate_pseudonym

    try:
        done = rotate_pseudonym(key_dir, data_dir)
    except (KeyProblem, VaultTampered) as exc:
        _fail(str(exc))
    typer.echo(f"Pseudonymnyckeln roterad: {done['fran']} -> {done['till']}; "
               f"{done['valvposter']} valvposter, {done['forseglade']} förseglade identiteter, "
               f"{done['tabeller']} tabeller omnycklade. Fil- och radcacher tömda.")


@app.command("generate")
def generate_cmd(profile: str = typer.Option("ange", "--profile", help="ange | stockholm"),
                 out: Path = typer.Option(..., "--out", help="Datakatalog (inbox/ skapas)."),
                 as_of: str = typer.Option(..., "--as-of", help="Referensdag ÅÅÅÅ-MM-DD."),
                 seed: int = typer.Option(1, "--seed"),
                 overwrite: bool = typer.Option(False, "--overwrite",
                                                help="Ersätt tidigare genererade filer.")):
    """Skapa en syntetisk kommun i <out>/inbox/ enligt källkontraktet."""
    from skyddsnat.generate import generate

    if profile not in ("ange", "stockholm"):
        _fail("profilen ska vara ange eller stockholm", 2)
    try:
        report = generate(profile, out, _date(as_of), seed=seed, progress=sys.stderr.isatty(),
                          overwrite=overwrite)
    except FileExistsError:
        _fail(f"{Path(out) / 'inbox'} har redan genererade filer (använd --overwrite)")
    n_files = len(report.files)
    typer.echo(f"Syntetisk kommun ({profile}) skriven: {n_files} filer i {Path(out) / 'inbox'}.")


# What a night's helper imports before it is asked anything: the validator of the new
# attendance day (GX, ~2 s) and the workbook writer the delivery's renderer uses.
WARM_IMPORTS = ("schemas.gx_suites", "skyddsnat.lists.render", "matplotlib.figure")


@app.command("run")
def run_cmd(data_dir: Path = typer.Option(..., "--data-dir"),
            key_dir: Path = typer.Option(None, "--key-dir",
                                         help="Nyckelkatalog; utan den läses nycklar från miljön."),
            as_of: str = typer.Option(..., "--as-of", help="Referensdag ÅÅÅÅ-MM-DD."),
            kommunkod: str = typer.Option("", "--kommunkod", help="Ersätter policyns kommunkod."),
            policy_dir: Path = typer.Option(
                None, "--policy-dir", envvar="SKYDDSNAT_POLICY_DIR",
                help="Kommunens granskade policykatalog (annars den medföljande policies/)."),
            omrakna: bool = typer.Option(
                False, "--omrakna",
                help="Räkna om allt; återanvänd inget sparat resultat (annars behålls ett "
                     "resultat vars indata, kod, policy och nyckel är oförändrade).")):
    """Kör nattjobbet en gång, i processen, precis som schemat kör det."""
    from skyddsnat.policy import PolicyError
    from skyddsnat.privacy.keys import KeyProblem

    if kommunkod and not (len(kommunkod) == 4 and kommunkod.isdigit()):
        _fail("kommunkoden ska vara fyra siffror", 2)
    day = _date(as_of)
    _existing_data_dir(data_dir, need_inbox=True)
    from skyddsnat.parallel import stop_warm, warm_start

    warm_start(WARM_IMPORTS)  # on the second core while this process imports Dagster
    try:
        from pipelines.runner import run_nightly

        outcome = run_nightly(data_dir, key_dir, day, kommunkod, policy_dir=policy_dir,
                              progress=True, omrakna=omrakna)
    except KeyProblem as exc:
        _fail(f"nyckelfel – inget data har lästs: {exc}", 3)
    except PolicyError as exc:
        _fail(f"policyfel – inget data har lästs: {'; '.join(str(exc).splitlines())}", 4)
    finally:
        stop_warm()
    if not outcome.success:
        for line in outcome.failures:
            typer.echo(f"  {line}", err=True)
        _fail(f"körningen {outcome.run_id} misslyckades efter {outcome.seconds:.0f} s; "
              f"ingen ny leverans (förra leveransen är orörd). Logg: {outcome.log_file}")
    typer.echo(_run_summary(data_dir, day, outcome))
    _QUICK_EXIT["on"] = True


def _run_summary(data_dir: Path, day: date, outcome) -> str:
    """A short Swedish summary: what was delivered, what it rests on, any warnings."""
    import json

    from skyddsnat.ingest.freshness import bases
    from skyddsnat.layout import DataDir

    data = DataDir(data_dir)
    delivery = data.outbox / day.isoformat()
    files = json.loads((delivery / "manifest.json").read_text(encoding="utf-8"))["files"]
    sealed = sum(1 for f in files if f.get("sealed"))
    recorded = bases(data.state, day)
    warnings = [w for b in recorded.values() for w in b.warnings]
    narvaro = recorded.get("narvaro")
    lines = [f"Körningen {outcome.run_id} lyckades på {outcome.seconds:.0f} s. "
             f"Leverans: {delivery} – {len(files) - sealed} listor och tabeller, "
             f"{sealed} förseglade.",
             f"Närvarodata t.o.m. {narvaro.date if narvaro and narvaro.date else 'saknas'}; "
             f"varningar: {len(warnings)}. Logg: {outcome.log_file}"]
    if outcome.kept:
        lines.append(f"Återanvända (indata oförändrade): {', '.join(outcome.kept)}.")
    lines += [f"  VARNING: {w}" for w in warnings]
    return "\n".join(lines)


@app.command("unseal")
def unseal_cmd(file: Path = typer.Argument(..., help="En restricted/*.sealed-fil."),
               key: Path = typer.Option(..., "--key", help="Handläggarens privata nyckel."),
               out: Path = typer.Option(..., "--out", help="Katalog för de öppnade listorna."),
               log_dir: Path = typer.Option(None, "--log-dir",
                                            help="Handläggarens öppningslogg (standard: "
                                                 "oppningslogg/ bredvid nyckeln).")):
    """Öppna en förseglad lista (endast den särskilt behöriga handläggaren); loggas lokalt."""
    from skyddsnat.lists.restricted import open_sealed_list, unseal_doc
    from skyddsnat.privacy.keys import KeyProblem, load_officer_private
    from skyddsnat.privacy.officer_log import default_log_dir, record_unseal
    from skyddsnat.privacy.seal import SealBroken

    if not file.is_file():
        _fail(f"filen {file} finns inte", 2)
    if not key.is_file():
        _fail(f"nyckelfilen {key} finns inte", 2)
    try:
        private = load_officer_private(key)
        doc = open_sealed_list(file, private)
        written = unseal_doc(doc, private, out)
    except KeyProblem as exc:
        _fail(f"{key}: {exc}")
    except SealBroken as exc:
        _fail(f"{file} kan inte öppnas med den här nyckeln eller är skadad: {exc}")
    log_dir = log_dir or default_log_dir(key)
    record_unseal(log_dir, file, doc, written)
    for p in written:
        typer.echo(f"Öppnad: {p}")
    typer.echo(f"Loggat i {log_dir}.")


@archive_app.command("restore")
def archive_restore(data_dir: Path = typer.Option(..., "--data-dir"),
                    key: Path = typer.Option(..., "--key",
                                             help="Arkivförvararens privata nyckel."),
                    day: str = typer.Option(..., "--day", help="Arkivdag ÅÅÅÅ-MM-DD."),
                    out: Path = typer.Option(..., "--out",
                                             help="Katalog för karantänrader (och exporter "
                                                  "utan --to-inbox)."),
                    to_inbox: bool = typer.Option(False, "--to-inbox",
                                                  help="Lägg exporterna i inkorgen för "
                                                       "omkörning.")):
    """Öppna en arkivdag med förvararens nyckel för omkörning; förs in i revisionsloggen."""
    from skyddsnat.layout import DataDir
    from skyddsnat.privacy.archive import restore
    from skyddsnat.privacy.audit import AuditLog
    from skyddsnat.privacy.keys import KeyProblem, load_officer_private
    from skyddsnat.privacy.seal import SealBroken

    data = DataDir(data_dir)
    try:
        done = restore(load_officer_private(key), data.archive, _date(day), out,
                       data.inbox if to_inbox else None)
    except (KeyProblem, SealBroken) as exc:
        _fail(str(exc))
    AuditLog(data.audit).append("arkiv_aterlast", {
        "arkivdag": done.day, "exporter": done.files, "karantan": done.quarantine,
        "till_inkorgen": to_inbox})
    typer.echo(f"Återläst {len(done.files)} exporter och {len(done.quarantine)} "
               f"karantänfiler från {done.day}.")


_KONSORTIUM = typer.Option(None, "--konsortium", envvar="SKYDDSNAT_KONSORTIUM",
                           help="Konsortiefil: flera kommuner i samma driftmiljö.")


@policy_app.command("check")
def policy_check(policy_dir: Path = typer.Option(None, "--policy-dir",
                                                envvar="SKYDDSNAT_POLICY_DIR"),
                 konsortium: Path = _KONSORTIUM):
    """Kontrollera policyerna; varje fel med fil och nyckel."""
    from skyddsnat.konsortium import load_konsortium
    from skyddsnat.policy import DEFAULT_POLICY_DIR, PolicyError, load_policy

    try:
        p = load_policy(policy_dir or DEFAULT_POLICY_DIR)
        k = load_konsortium(konsortium) if konsortium else None
    except PolicyError as exc:
        for f, key, m in exc.problems:
            typer.echo(f"{f}: {key}: {m}", err=True)
        _fail(f"{len(exc.problems)} fel i policyerna")
    typer.echo(f"Policyerna är giltiga. Version {p.version}.")
    if k:
        typer.echo(f"Konsortiet {k.namn} är giltigt: {len(k.kommuner)} kommuner, "
                   f"version {k.version}.")


@policy_app.command("explain")
def policy_explain(policy_dir: Path = typer.Option(None, "--policy-dir",
                                                  envvar="SKYDDSNAT_POLICY_DIR"),
                   out: Path = typer.Option(None, "--out",
                                            help="Skriv till fil (.md eller .html)."),
                   konsortium: Path = _KONSORTIUM):
    """Registerförteckning (art. 30 GDPR) på svenska: vem får vilka uppgifter, varför, hur länge."""
    from skyddsnat.delivery.policy_explain import explain_html, explain_markdown
    from skyddsnat.konsortium import explain_section, load_konsortium
    from skyddsnat.policy import DEFAULT_POLICY_DIR, PolicyError, load_policy

    try:
        p = load_policy(policy_dir or DEFAULT_POLICY_DIR)
        extra = (explain_section(load_konsortium(konsortium)),) if konsortium else ()
    except PolicyError as exc:
        _fail(str(exc))
    if out and out.suffix == ".html":
        out.write_text(explain_html(p, extra), encoding="utf-8")
    elif out:
        out.write_text(explain_markdown(p, extra), encoding="utf-8")
    else:
        typer.echo(explain_markdown(p, extra))


@audit_app.command("verify")
def audit_verify(data_dir: Path = typer.Option(None, "--data-dir"),
                 log_dir: Path = typer.Option(None, "--log-dir",
                                              help="En annan logg, t.ex. handläggarens "
                                                   "öppningslogg.")):
    """Kontrollera revisionsloggens (eller öppningsloggens) hashkedja."""
    from skyddsnat.layout import DataDir
    from skyddsnat.privacy.audit import AuditLog

    if (data_dir is None) == (log_dir is None):
        _fail("ange antingen --data-dir eller --log-dir", 2)
    if data_dir is not None:
        _existing_data_dir(data_dir)
    where = log_dir if log_dir is not None else DataDir(data_dir).audit
    if not Path(where).is_dir():
        _fail(f"revisionsloggen {where} finns inte – inget att verifiera")
    log = AuditLog(where)
    if not log.path.exists() or not log.path.read_text(encoding="utf-8").strip():
        _fail(f"revisionsloggen i {where} är tom – inget att verifiera")
    problems = log.verify()
    if problems:
        for p in problems:
            typer.echo(p, err=True)
        _fail("revisionsloggen är manipulerad eller skadad")
    typer.echo(f"Revisionsloggen är hel: {len(log.entries())} poster.")


if __name__ == "__main__":
    app()
