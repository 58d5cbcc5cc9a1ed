#!/usr/bin/env python3
"""Validates the FHIR view of a running instance with a real validator.

Starts the service (the binary given, default target/debug/clinic-booking)
on a free port with a fresh SQLite database in a temporary folder, makes a
few bookings (one cancelled, one completed), creates a staff token with the
CLI, then fetches the CapabilityStatement, Schedule, Slot and Appointment
searches (with paging), single reads and two errors, and validates every resource
with the `fhir.resources` models. Then does the same for a booking of a
second instance configured as config/examples/practitioners.toml (two
doctors, a counsellor, two rooms): its Appointment has a Practitioner
participant, which resolves to a Practitioner, and its Slots follow the
practitioners, on the type's Schedule and on each practitioner's.

fhir.resources 8.x ships R4B models (pydantic 2); its R4 models need
pydantic 1. R4B is the closest to R4 available: Schedule, Slot,
Appointment, Practitioner, Bundle, CapabilityStatement and OperationOutcome
are structurally the same in both for everything this service sends. The models check structure, types,
cardinalities and unknown elements; required code bindings and FHIR JSON's
own rules (no nulls, no empty strings, arrays or objects) are checked here
as well, since the models do not.
"""

import datetime
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from zoneinfo import ZoneInfo

from fhir.resources.R4B import get_fhir_model_class

FHIR_JSON = "application/fhir+json"

# Required bindings of the R4 elements this service sends (value sets of
# the R4 specification).
REQUIRED_CODES = {
    ("Bundle", "type"): {"document", "message", "transaction", "transaction-response",
                         "batch", "batch-response", "history", "searchset", "collection"},
    ("Slot", "status"): {"busy", "free", "busy-unavailable", "busy-tentative", "entered-in-error"},
    ("Appointment", "status"): {"proposed", "pending", "booked", "arrived", "fulfilled",
                                "cancelled", "noshow", "entered-in-error", "checked-in", "waitlist"},
    ("CapabilityStatement", "status"): {"draft", "active", "retired", "unknown"},
    ("CapabilityStatement", "kind"): {"instance", "capability", "requirements"},
}
PARTICIPANT_STATUS = {"accepted", "declined", "tentative", "needs-action"}
PARTICIPANT_REQUIRED = {"required", "optional", "information-only"}
ISSUE_SEVERITY = {"fatal", "error", "warning", "information"}
INTERACTIONS = {"read", "vread", "update", "patch", "delete", "history-instance",
                "history-type", "create", "search-type"}
SEARCH_PARAM_TYPES = {"number", "date", "string", "token", "reference", "composite",
                      "quantity", "uri", "special"}

checked = {"resources": 0}


def fail(message):
    print(f"FHIR validation failed: {message}", file=sys.stderr)
    sys.exit(1)


def json_rules(value, path):
    """FHIR JSON: no null, no empty string, array or object anywhere."""
    if value is None:
        fail(f"{path} is null")
    if isinstance(value, str) and value.strip() == "":
        fail(f"{path} is an empty string")
    if isinstance(value, (list, dict)) and not value:
        fail(f"{path} is empty")
    if isinstance(value, list):
        for index, item in enumerate(value):
            json_rules(item, f"{path}[{index}]")
    if isinstance(value, dict):
        for key, item in value.items():
            json_rules(item, f"{path}.{key}")


def validate(resource, where):
    """Validates one resource with its fhir.resources model and the rules above."""
    kind = resource.get("resourceType")
    if not kind:
        fail(f"{where}: no resourceType")
    json_rules(resource, f"{where}({kind})")
    try:
        get_fhir_model_class(kind).model_validate(resource)
    except Exception as error:  # the validator's own report
        fail(f"{where}: {kind} does not validate:\n{error}")
    for (model, element), codes in REQUIRED_CODES.items():
        if kind == model and resource.get(element) not in codes:
            fail(f"{where}: {kind}.{element} {resource.get(element)!r} is not in its value set")
    if kind == "Appointment":
        for participant in resource["participant"]:
            if participant.get("status") not in PARTICIPANT_STATUS:
                fail(f"{where}: participant.status {participant.get('status')!r}")
            if participant.get("required", "required") not in PARTICIPANT_REQUIRED:
                fail(f"{where}: participant.required {participant.get('required')!r}")
            if "actor" not in participant and "type" not in participant:
                fail(f"{where}: app-1, a participant needs a type or an actor")
        if ("start" in resource) != ("end" in resource):
            fail(f"{where}: app-2, start and end go together")
    if kind == "CapabilityStatement":
        for rest in resource["rest"]:
            for entry in rest["resource"]:
                for interaction in entry.get("interaction", []):
                    if interaction["code"] not in INTERACTIONS:
                        fail(f"{where}: interaction {interaction['code']!r}")
                for param in entry.get("searchParam", []):
                    if param["type"] not in SEARCH_PARAM_TYPES:
                        fail(f"{where}: searchParam type {param['type']!r}")
    if kind == "OperationOutcome":
        for issue in resource["issue"]:
            if issue["severity"] not in ISSUE_SEVERITY:
                fail(f"{where}: issue.severity {issue['severity']!r}")
    if kind == "Bundle":
        for index, entry in enumerate(resource.get("entry", [])):
            validate(entry["resource"], f"{where} entry {index}")
            if not entry["fullUrl"].endswith(f"/{entry['resource']['resourceType']}/{entry['resource']['id']}"):
                fail(f"{where}: entry {index} fullUrl {entry['fullUrl']}")
    checked["resources"] += 1


EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "config", "examples",
                       "practitioners.toml")


class Service:
    def __init__(self, binary, local_config=None):
        self.work = tempfile.mkdtemp(prefix="fhir-validate-")
        if local_config:
            os.makedirs(os.path.join(self.work, "config"))
            with open(local_config, "rb") as source, \
                    open(os.path.join(self.work, "config", "local.toml"), "wb") as target:
                target.write(source.read())
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ)
        self.env.update({
            "CLINIC__SERVER__BIND": f"127.0.0.1:{self.port}",
            "CLINIC__SERVER__PUBLIC_URL": self.base,
            "CLINIC__RATE_LIMIT__ENABLED": "false",
            "CLINIC__DATABASE__URL": "sqlite://data/clinic.db",
        })
        self.env.pop("DATABASE_URL", None)
        self.binary = os.path.abspath(binary)
        self.log = open(os.path.join(self.work, "server.log"), "wb")
        created = subprocess.run(
            [self.binary, "staff-token", "create", "--label", "fhir-ci"],
            cwd=self.work, env=self.env, capture_output=True, check=True)
        self.token = created.stdout.decode().strip().splitlines()[-1]
        self.process = subprocess.Popen([self.binary], cwd=self.work, env=self.env,
                                        stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{self.base}/healthz", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        fail("the service did not start; its log:\n" + open(self.log.name).read())

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def request(self, method, path, body=None, token=None):
        url = path if path.startswith("http") else self.base + path
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.headers.get("Content-Type", ""), response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Content-Type", ""), error.read()

    def fhir(self, path, status=200, token=None):
        code, content_type, body = self.request("GET", path, token=token)
        if code != status:
            fail(f"GET {path}: {code} (expected {status}): {body[:500]!r}")
        if content_type.split(";")[0].strip() != FHIR_JSON:
            fail(f"GET {path}: Content-Type {content_type!r}")
        resource = json.loads(body)
        validate(resource, f"GET {path}")
        return resource


def open_days(count):
    """The next `count` clinic days after tomorrow that are not Sundays."""
    day = datetime.datetime.now(ZoneInfo("Asia/Tokyo")).date() + datetime.timedelta(days=2)
    days = []
    while len(days) < count:
        if day.weekday() != 6:
            days.append(day)
        day += datetime.timedelta(days=1)
    return days


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/debug/clinic-booking"
    service = Service(binary)
    try:
        run(service)
    finally:
        service.stop()
    service = Service(binary, local_config=EXAMPLE)
    try:
        run_with_practitioners(service)
    finally:
        service.stop()
    print(f"FHIR: {checked['resources']} resources valid")


def run(service):
    first, second = open_days(2)
    bookings = []
    for day, time_of_day, kind in [(first, "10:00", "consultation"), (first, "11:00", "stem-cell"),
                                   (second, "14:00", "consultation")]:
        code, _, body = service.request("POST", "/api/v1/bookings", {
            "name": "検証 太郎", "name_kana": "ケンショウ タロウ", "email": "fhir@example.jp",
            "phone": "090-1234-5678", "start": f"{day}T{time_of_day}", "type": kind,
            "first_visit": True, "consent": True})
        if code != 201:
            fail(f"booking failed: {code} {body!r}")
        bookings.append(json.loads(body))
    cancelled, completed, booked = bookings
    token = urllib.parse.parse_qs(urllib.parse.urlparse(cancelled["manage_url"]).query)["token"][0]
    code, _, body = service.request(
        "POST", f"/api/v1/bookings/{cancelled['reference']}/cancel", token=token)
    if code != 200:
        fail(f"cancel failed: {code} {body!r}")
    code, _, body = service.request(
        "PATCH", f"/api/v1/staff/bookings/{completed['reference']}", {"status": "completed"},
        token=service.token)
    if code != 200:
        fail(f"status change failed: {code} {body!r}")

    capabilities = service.fhir("/fhir/r4/metadata")
    assert capabilities["resourceType"] == "CapabilityStatement", capabilities

    week = f"start=ge{first}&start=lt{first + datetime.timedelta(days=7)}"
    slots = service.fhir(f"/fhir/r4/Slot?{week}&_count=500")
    statuses = {entry["resource"]["status"] for entry in slots["entry"]}
    if slots["total"] != len(slots["entry"]) or statuses != {"free", "busy"}:
        fail(f"Slot search: total {slots['total']}, statuses {statuses}")
    # Paged: the next link leads to the rest, without overlap.
    page = service.fhir(f"/fhir/r4/Slot?{week}&service-type=stem-cell&_count=5")
    links = {link["relation"]: link["url"] for link in page["link"]}
    if len(page["entry"]) != 5 or "next" not in links or "self" not in links:
        fail(f"Slot paging: {page['link']}")
    rest = service.fhir(links["next"])
    first_ids = {entry["resource"]["id"] for entry in page["entry"]}
    if first_ids & {entry["resource"]["id"] for entry in rest["entry"]}:
        fail("Slot paging: pages overlap")
    slot = service.fhir(f"/fhir/r4/Slot/{page['entry'][0]['resource']['id']}")
    service.fhir(f"/fhir/r4/{slot['schedule']['reference']}")
    service.fhir("/fhir/r4/Schedule")

    day_range = f"date=ge{first}&date=lt{second + datetime.timedelta(days=1)}"
    appointments = service.fhir(f"/fhir/r4/Appointment?{day_range}", token=service.token)
    found = {entry["resource"]["id"]: entry["resource"]["status"] for entry in appointments["entry"]}
    expected = {cancelled["reference"]: "cancelled", completed["reference"]: "fulfilled",
                booked["reference"]: "booked"}
    if found != expected:
        fail(f"Appointment search: {found}, expected {expected}")
    service.fhir(f"/fhir/r4/Appointment/{booked['reference']}", token=service.token)

    service.fhir("/fhir/r4/Slot?patient=1", status=400)
    service.fhir(f"/fhir/r4/Appointment?{day_range}", status=401)
    service.fhir("/fhir/r4/Patient", status=404)


def run_with_practitioners(service):
    """A counselling (the counsellor works every open day) and its FHIR view."""
    day = open_days(1)[0]
    code, _, body = service.request("POST", "/api/v1/bookings", {
        "name": "検証 花子", "email": "fhir@example.jp", "phone": "090-1234-5678",
        "start": f"{day}T10:00", "type": "consultation", "consent": True})
    if code != 201:
        fail(f"booking with a practitioner failed: {code} {body!r}")
    booked = json.loads(body)
    appointment = service.fhir(f"/fhir/r4/Appointment/{booked['reference']}",
                               token=service.token)
    actors = [p["actor"].get("reference") for p in appointment["participant"]]
    if "Practitioner/counsellor-ito" not in actors:
        fail(f"no Practitioner participant: {appointment['participant']}")
    practitioner = service.fhir("/fhir/r4/Practitioner/counsellor-ito")
    if practitioner["id"] != "counsellor-ito":
        fail(f"Practitioner/counsellor-ito read {practitioner['id']!r}")
    practitioners = service.fhir("/fhir/r4/Practitioner")
    if practitioners["total"] != 3 or len(practitioners["entry"]) != 3:
        fail(f"Practitioner search: total {practitioners['total']}")
    schedules = service.fhir("/fhir/r4/Schedule?actor=Practitioner/counsellor-ito")
    if [entry["resource"]["id"] for entry in schedules["entry"]] != ["consultation.counsellor-ito"]:
        fail(f"the counsellor's schedules: {schedules}")
    own = service.fhir(f"/fhir/r4/Slot?start=eq{day}&schedule=Schedule/consultation.counsellor-ito")
    if own["entry"][0]["resource"]["status"] != "busy":
        fail("the counsellor's own schedule shows their booked slot free")
    slot = service.fhir(f"/fhir/r4/Slot/consultation-{day.strftime('%Y%m%d')}1000")
    if slot["status"] != "busy":
        fail(f"the counsellor's booked slot is {slot['status']}")
    next_day = day + datetime.timedelta(days=1)
    service.fhir(f"/fhir/r4/Slot?start=ge{day}&start=lt{next_day}&service-type=stem-cell")


if __name__ == "__main__":
    main()
