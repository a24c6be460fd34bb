#!/usr/bin/env python3
"""Runs Okta's SCIM 2.0 test suites (Runscope/BlazeMeter exports, read at run time) against one
directory of a running server and judges them: every assertion must pass.

    okta.py SCIM_URL TOKEN SUITE.json [SUITE.json …]

Each step of a suite is a request with assertions (status, JSON properties, response time),
variable extractions and JavaScript scripts, or a pause. This runner:

- fills `{{variables}}` as Okta's initial scripts do (random user names and emails; those
  scripts are not published with the suites, so their variables are generated here);
- sends requests whose URL starts with `{{SCIMBaseURL}}`/`{{SCIMUrl}}` to the server and checks
  their assertions;
- plays the Okta org for steps addressed to `{{oktaOrgUrl}}` (the CRUD suite drives a real Okta
  org that then calls the SCIM server): it answers them as Okta would and sends the SCIM
  requests Okta sends for that action (lookup + POST on assignment, PUT on a profile update,
  path-less PATCH `active` on deactivation, reactivation and unassignment; see
  shared/reference/scim-clients.md). Their own assertions check this simulation, so they are
  counted apart;
- skips pauses: Okta waits for its own asynchronous provisioning, this server's writes are
  visible to the next request;
- runs step scripts with node (`assert`, `log`, `response.body`), when node is installed.

Before the SPEC suite it creates one user, as Okta's instructions ask ("the SCIM app must have
at least one user"), since the suite's first step reads it.
"""

import json
import random
import shutil
import string
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

SCIM_KEYS = ("{{SCIMBaseURL}}", "{{SCIMUrl}}")
OKTA_ORG = "{{oktaOrgUrl}}"


def random_name(n=8):
    return "".join(random.choice(string.ascii_lowercase) for _ in range(n))


def variables(scim_url, token):
    """What Okta's initial scripts (Initial_Script_Spec.txt / _CRUD.txt) define."""
    given, family = random_name().capitalize(), random_name().capitalize()
    user = f"{given.lower()}.{family.lower()}@okta-runner.example"
    return {
        "SCIMBaseURL": scim_url,
        "SCIMUrl": scim_url,
        "auth": f"Bearer {token}",
        "SCIMAuth": f"Bearer {token}",
        "InvalidUserEmail": f"{random_name()}@invalid-user.example",
        "UserIdThatDoesNotExist": f"010101001010101{random.randint(1000, 9999)}",
        "randomGivenName": given,
        "randomFamilyName": family,
        "randomUsername": user,
        "randomUsernameCaps": user.upper(),
        "randomEmail": user,
        "okta_user_firstname": given,
        "okta_user_firstname_update": given + "Updated",
        "okta_user_lastname": family,
        "okta_user_email": f"crud.{user}",
        "okta_user_title": "Engineer",
        "okta_user_primaryphone": "+1 555 0100",
        "oktaAppId": "0oa-runner",
        "oktaToken": "simulated",
    }


def fill(text, env):
    for key, value in env.items():
        text = text.replace("{{" + key + "}}", str(value))
    return text


def encode_url(url):
    """Percent-encodes what Runscope encodes before sending (spaces, quotes) in path and query."""
    parts = urllib.parse.urlsplit(url)
    path = urllib.parse.quote(parts.path, safe="/%:@")
    query = urllib.parse.quote(parts.query, safe="=&%:@/+")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def http(method, url, headers, body):
    data = body.encode() if body else None
    request = urllib.request.Request(encode_url(url), data=data, method=method, headers=headers)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    elapsed_ms = (time.monotonic() - started) * 1000
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = None
    return status, text, parsed, elapsed_ms


def prop(value, path):
    """`Resources[0].name.familyName` in a JSON value; None when missing."""
    if not path:
        return value
    for part in path.replace("]", "").replace("[", ".").split("."):
        if part == "":
            continue
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return None
    return value


def text_of(value):
    """How Runscope compares a JSON value with an assertion's text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def check(assertion, status, parsed, elapsed_ms, env):
    source = assertion["source"]
    comparison = assertion["comparison"]
    expected = fill(text_of(assertion.get("value")), env)
    if source == "response_status":
        actual = status
    elif source == "response_time":
        actual = elapsed_ms
    elif source == "response_json":
        actual = prop(parsed, assertion.get("property", ""))
    else:
        return False, f"unsupported source {source}"
    if comparison == "equal_number":
        ok = isinstance(actual, (int, float)) and not isinstance(actual, bool) and float(actual) == float(expected)
    elif comparison == "equal":
        ok = text_of(actual) == expected
    elif comparison == "not_empty":
        ok = actual not in (None, "", [], {})
    elif comparison == "has_value":
        ok = isinstance(actual, list) and any(text_of(v) == expected for v in actual)
    elif comparison == "contains":
        ok = actual is not None and (
            any(text_of(v) == expected for v in actual) if isinstance(actual, list) else expected in text_of(actual)
        )
    elif comparison == "is_a_number":
        ok = isinstance(actual, (int, float)) and not isinstance(actual, bool)
    elif comparison == "is_less_than":
        ok = isinstance(actual, (int, float)) and float(actual) < float(expected)
    else:
        return False, f"unsupported comparison {comparison}"
    where = assertion.get("property") or source
    return ok, f"{where} {comparison} {expected!r} (got {text_of(actual)!r})"


def run_script(script, body):
    """A step script, with Runscope's `assert`, `log` and `response.body`; (ok, message)."""
    if not script.strip():
        return True, "empty"
    node = shutil.which("node")
    if not node:
        return False, "node is not installed"
    program = (
        "const assert = require('assert'); const log = (...a) => console.log(...a);\n"
        f"const response = {{ body: {json.dumps(body)} }};\n{script}\n"
    )
    result = subprocess.run([node, "-e", program], capture_output=True, text=True, timeout=30)
    return result.returncode == 0, (result.stderr.strip().splitlines() or ["ok"])[-1]


class OktaOrg:
    """Plays the Okta org of the CRUD suite: its API answers, and the SCIM calls it makes."""

    def __init__(self, scim_url, token, env):
        self.scim = scim_url
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/scim+json",
            "Accept": "application/scim+json",
            "User-Agent": "Okta SCIM Client (hack/vendor/okta.py)",
        }
        self.env = env
        self.profile = {}
        self.scim_id = None

    def call(self, method, path, body=None):
        status, _, parsed, _ = http(method, self.scim + path, self.headers, json.dumps(body) if body else None)
        if status >= 300:
            raise RuntimeError(f"SCIM {method} {path} answered {status}: {parsed}")
        return parsed

    def user_body(self, active):
        p = self.profile
        return {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": p["login"],
            "name": {"givenName": p["firstName"], "familyName": p["lastName"]},
            "emails": [{"primary": True, "value": p["email"], "type": "work"}],
            "displayName": f"{p['firstName']} {p['lastName']}",
            "title": p.get("title"),
            "phoneNumbers": [{"value": p["primaryPhone"], "type": "work"}] if p.get("primaryPhone") else [],
            "active": active,
            "groups": [],
        }

    def set_active(self, active):
        body = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": active}}],
        }
        self.call("PATCH", f"/Users/{self.scim_id}", body)

    def handle(self, method, url, body):
        """Okta's answer (status, JSON) to one of its own API calls, after the SCIM calls it causes."""
        path = urllib.parse.urlsplit(url.replace(OKTA_ORG, "https://okta.invalid")).path
        request = json.loads(fill(body, self.env)) if body else {}
        if method == "GET" and path.startswith("/api/v1/apps/"):
            return 200, {"id": self.env["oktaAppId"], "features": ["PUSH_NEW_USERS", "PUSH_PROFILE_UPDATES"]}
        if method == "POST" and path == "/api/v1/users":
            self.profile = dict(request["profile"])
            return 200, {"id": "00u-runner", "status": "ACTIVE", "profile": self.profile}
        if method == "POST" and path.endswith("/users") and path.startswith("/api/v1/apps/"):
            # Assignment: look the user up by userName; create it, or reactivate and update it.
            query = urllib.parse.quote(f'userName eq "{self.profile["login"]}"')
            found = self.call("GET", f"/Users?filter={query}&startIndex=1&count=100")
            if found["totalResults"] == 0:
                self.scim_id = self.call("POST", "/Users", self.user_body(True))["id"]
            else:
                self.scim_id = found["Resources"][0]["id"]
                self.set_active(True)
                self.call("PUT", f"/Users/{self.scim_id}", self.user_body(True))
            return 200, {"id": request.get("id"), "scope": "USER", "status": "PROVISIONED"}
        if method == "PUT" and path.startswith("/api/v1/users/"):
            self.profile.update(request["profile"])
            current = self.call("GET", f"/Users/{self.scim_id}")
            self.call("PUT", f"/Users/{self.scim_id}", self.user_body(current.get("active", True)))
            return 200, {"id": "00u-runner", "profile": self.profile}
        if method == "POST" and path.endswith("/lifecycle/deactivate"):
            self.set_active(False)
            return 200, {}
        if method == "POST" and path.endswith("/lifecycle/activate"):
            # Okta pushes the reactivation with the app assignment that follows.
            return 200, {}
        if method == "DELETE" and path.startswith("/api/v1/apps/"):
            # Unassignment deactivates in the app; Okta never deletes users.
            self.set_active(False)
            return 204, None
        raise RuntimeError(f"the simulated Okta org does not know {method} {path}")


def seed_user(scim_url, token, env):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"seed.{env['randomUsername']}",
        "name": {"givenName": "Seed", "familyName": "User"},
        "emails": [{"primary": True, "value": f"seed.{env['randomEmail']}", "type": "work"}],
        "active": True,
    }
    status, _, parsed, _ = http("POST", scim_url + "/Users", headers, json.dumps(body))
    if status != 201:
        raise RuntimeError(f"could not create the seed user: {status} {parsed}")


def run_suite(path, scim_url, token):
    suite = json.load(open(path))
    env = variables(scim_url, token)
    if "SPEC" in suite["name"]:
        seed_user(scim_url, token, env)
    org = OktaOrg(scim_url, token, env)
    results = {"scim": [0, 0], "okta-org": [0, 0]}
    print(f"--- {suite['name']} ({path})")
    for number, step in enumerate(suite["steps"], 1):
        if step.get("skipped") or step["step_type"] != "request":
            continue
        raw_url = step["url"]
        headers = {}
        for key, value in step.get("headers", {}).items():
            values = value if isinstance(value, list) else [value]
            headers[key] = fill(values[0], env)
        body = step.get("body") or None
        if raw_url.startswith(OKTA_ORG):
            kind = "okta-org"
            status, parsed = org.handle(step["method"], raw_url, body)
            text, elapsed_ms = json.dumps(parsed), 0
        elif raw_url.startswith(SCIM_KEYS):
            kind = "scim"
            status, text, parsed, elapsed_ms = http(step["method"], fill(raw_url, env), headers, fill(body, env) if body else None)
        else:
            raise RuntimeError(f"step {number}: unknown URL {raw_url}")
        label = step.get("note") or f"{step['method']} {raw_url}"
        for assertion in step.get("assertions", []):
            ok, message = check(assertion, status, parsed, elapsed_ms, env)
            results[kind][0 if ok else 1] += 1
            print(f"  {'ok  ' if ok else 'FAIL'} [{kind}] {label}: {message}")
        for script in step.get("scripts", []):
            if script.strip():
                ok, message = run_script(script, text)
                results[kind][0 if ok else 1] += 1
                print(f"  {'ok  ' if ok else 'FAIL'} [{kind}] {label}: script: {message}")
        for extraction in step.get("variables", []):
            if extraction.get("name") and extraction.get("source") == "response_json":
                env[extraction["name"]] = text_of(prop(parsed, extraction.get("property", "")))
    return results


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    scim_url, token, suites = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3:]
    failed = 0
    for path in suites:
        results = run_suite(path, scim_url, token)
        (scim_ok, scim_failed), (org_ok, org_failed) = results["scim"], results["okta-org"]
        print(
            f"Okta {path.rsplit('/', 1)[-1]}: {scim_ok}/{scim_ok + scim_failed} SCIM assertions passed"
            + (f"; simulated Okta org steps {org_ok}/{org_ok + org_failed}" if org_ok + org_failed else "")
        )
        failed += scim_failed + org_failed
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
