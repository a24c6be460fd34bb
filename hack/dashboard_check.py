#!/usr/bin/env python3
"""Provisioning load, then every dashboard query evaluated by a real Prometheus, then a picture.

Run by hack/dashboard-check.sh, which starts `scim-operator dev` and Prometheus scraping it:

    dashboard_check.py load  CONNECTION_JSON SECONDS
    dashboard_check.py query PROMETHEUS_URL DASHBOARD_JSON START END OUT_JSON [PNG]

`load` drives Entra-shaped traffic: users, workspace groups and memberships (a user moved from
member to admin passes through, and one stays in, a role conflict), replaces, deletes, lookups
of deleted ids (404), a wrong token (401), and requests while slow clients hold the
directory's in-flight slots (429). `query` runs each panel target as a range query and fails if
any returns no data; with PNG it plots every panel from those results.
"""
import http.client
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

SCHEMA_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
SCHEMA_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class Scim:
    def __init__(self, url, token):
        self.url, self.token = url.rstrip("/"), token

    def send(self, method, path, body=None, token=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {token or self.token}")
        req.add_header("Content-Type", "application/scim+json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                raw = r.read()
                return r.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            return e.code, None

    def slow_post(self, path, body):
        """Sends a POST's headers and the first byte of its body; returns a function that sends
        the rest and returns the status."""
        url = urllib.parse.urlsplit(self.url + path)
        data = json.dumps(body).encode()
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        conn.putrequest("POST", url.path)
        conn.putheader("Authorization", f"Bearer {self.token}")
        conn.putheader("Content-Type", "application/scim+json")
        conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data[:1])
        # The slot is taken once the request is authenticated. Load shaping, not synchronisation:
        # if the server has not got there yet, the requests meant to meet 429 are served instead.
        time.sleep(0.2)

        def finish():
            conn.send(data[1:])
            status = conn.getresponse().status
            conn.close()
            return status
        return finish

    def add_members(self, group, users, op="add"):
        ops = [{"op": op, "path": "members", "value": [{"value": u} for u in users]}]
        return self.send("PATCH", f"/Groups/{group}", {"schemas": [PATCH], "Operations": ops})

    def remove_member(self, group, user):
        ops = [{"op": "remove", "path": f'members[value eq "{user}"]'}]
        return self.send("PATCH", f"/Groups/{group}", {"schemas": [PATCH], "Operations": ops})


def load(connection, seconds):
    c = json.load(open(connection))
    scim = Scim(c["scimUrl"], c["token"])
    deadline = time.time() + seconds
    groups = {}
    for ws in ["Sales", "Ops", "Finance"]:
        for role in ["admin", "manager", "member"]:
            status, body = scim.send("POST", "/Groups", {"schemas": [SCHEMA_GROUP], "displayName": f"ws-{ws}-role-{role}"})
            assert status == 201, status
            groups[(ws, role)] = body["id"]
    round_, statuses = 0, {}

    def count(status):
        statuses[status] = statuses.get(status, 0) + 1

    while time.time() < deadline:
        round_ += 1
        ids = []
        for i in range(20):
            status, body = scim.send("POST", "/Users", {
                "schemas": [SCHEMA_USER], "userName": f"user{round_}-{i}@example.com", "active": True,
                "emails": [{"type": "work", "primary": True, "value": f"user{round_}-{i}@example.com"}]})
            count(status)
            if status == 201:
                ids.append(body["id"])
        ws = ["Sales", "Ops", "Finance"][round_ % 3]
        count(scim.add_members(groups[(ws, "member")], ids)[0])
        # Entra moves a user from member to admin in two PATCHes: a passing conflict.
        count(scim.add_members(groups[(ws, "admin")], ids[:2])[0])
        count(scim.remove_member(groups[(ws, "member")], ids[0])[0])
        # ids[1] stays in both: a lasting conflict.
        for uid in ids[:5]:
            count(scim.send("GET", f"/Users/{uid}")[0])
            count(scim.send("GET", "/Users?filter=" + urllib.parse.quote(f'userName eq "user{round_}-0@example.com"'))[0])
        count(scim.send("PUT", f"/Users/{ids[2]}", {"schemas": [SCHEMA_USER], "userName": f"user{round_}-2@example.com", "active": False})[0])
        count(scim.send("DELETE", f"/Users/{ids[3]}")[0])
        count(scim.send("GET", f"/Users/{ids[3]}")[0])                          # 404
        count(scim.send("GET", "/Users", token="not-the-token-0123456789abcdef0123")[0])  # 401
        # Two clients trickling their bodies hold the directory's two in-flight slots
        # (hack/dashboard-check.sh sets the limit): meanwhile its requests get 429.
        slow = [scim.slow_post("/Users", {"schemas": [SCHEMA_USER], "userName": f"slow{round_}-{i}@example.com"})
                for i in range(2)]
        for _ in range(3):
            count(scim.send("GET", "/Users?count=1")[0])
        for finish in slow:
            count(finish())
    print(f"load: {round_} rounds, statuses {dict(sorted(statuses.items()))}")


def substitute(expr):
    return expr.replace("$__rate_interval", "30s").replace('job=~"$job"', 'job=~".+"')


def scraped_after(prometheus, t, timeout=60):
    """Waits until Prometheus holds a scrape of the operator taken at or after `t`."""
    qs = urllib.parse.urlencode({"query": 'max(timestamp(up{job="scim-operator"}))'})
    deadline = time.time() + timeout
    while time.time() < deadline:
        with urllib.request.urlopen(f"{prometheus}/api/v1/query?{qs}", timeout=10) as r:
            result = json.load(r)["data"]["result"]
        if result and float(result[0]["value"][1]) >= t:
            return
        time.sleep(0.5)
    sys.exit(f"Prometheus has no scrape after {t}")


def query(prometheus, dashboard_file, start, end, out, png=None):
    dashboard = json.load(open(dashboard_file))
    # Two scrapes after the load, so its last rates are in.
    scraped_after(prometheus, end + 4)
    end += 4
    step = max(2, int((end - start) / 120))
    results, empty = [], []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = substitute(target["expr"])
            qs = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
            with urllib.request.urlopen(f"{prometheus}/api/v1/query_range?{qs}", timeout=60) as r:
                answer = json.load(r)
            assert answer["status"] == "success", answer
            series = answer["data"]["result"]
            points = sum(len(s["values"]) for s in series)
            print(f"{len(series):3d} series {points:5d} points  {panel['title']} [{target['refId']}]")
            if not series:
                empty.append(f"{panel['title']} [{target['refId']}]: {expr}")
            results.append({"panel": panel["title"], "unit": panel["fieldConfig"]["defaults"].get("unit", ""),
                            "legend": target["legendFormat"], "expr": expr, "series": series})
    json.dump({"start": start, "end": end, "step": step, "results": results}, open(out, "w"), indent=1)
    if png:
        plot(results, start, png)
    if empty:
        print("queries without data:\n  " + "\n  ".join(empty), file=sys.stderr)
        sys.exit(1)


def legend(template, labels):
    out = template
    for k, v in labels.items():
        out = out.replace("{{" + k + "}}", v)
    return out


def plot(results, start, png):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = {}
    for r in results:
        panels.setdefault(r["panel"], []).append(r)
    cols = 3
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(18, 3.2 * rows))
    for ax, (title, targets) in zip(axes.flat, panels.items()):
        lines = 0
        for t in targets:
            for s in t["series"][:8]:
                xs = [float(v[0]) - start for v in s["values"]]
                ys = [float(v[1]) for v in s["values"]]
                ax.plot(xs, ys, linewidth=1, label=legend(t["legend"], s["metric"])[:40])
                lines += 1
        ax.set_title(title if len(title) < 60 else title[:57] + "…", fontsize=9)
        ax.set_xlabel("seconds", fontsize=7)
        ax.set_ylabel(targets[0]["unit"], fontsize=7)
        ax.tick_params(labelsize=7)
        if lines:
            ax.legend(fontsize=6, loc="upper left")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle("scim-operator dashboard queries, evaluated by Prometheus over a provisioning run "
                 "(hack/dashboard-check.sh)", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    fig.savefig(png, dpi=72)
    print(f"wrote {png}")


if __name__ == "__main__":
    if sys.argv[1] == "load":
        load(sys.argv[2], float(sys.argv[3]))
    elif sys.argv[1] == "query":
        query(sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5]), sys.argv[6],
              sys.argv[7] if len(sys.argv) > 7 else None)
    else:
        sys.exit(__doc__)
