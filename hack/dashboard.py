#!/usr/bin/env python3
"""Writes the chart's Grafana dashboard, charts/scim-operator/files/dashboard.json.

Edit the panels here and run `hack/dashboard.py`; tests/helm/monitoring.rs checks that every
metric the dashboard names exists on a running server's /metrics. Every query is filtered by the
`job` variable, so one Grafana can show several installations.
"""
import json
import pathlib

OUT = pathlib.Path(__file__).resolve().parent.parent / "charts/scim-operator/files/dashboard.json"
J = 'job=~"$job"'
RATE = "$__rate_interval"


def target(expr, legend, ref):
    return {"datasource": {"type": "prometheus", "uid": "${datasource}"}, "expr": expr,
            "legendFormat": legend, "refId": ref}


def panel(title, description, exprs, unit="short", kind="timeseries", w=12, h=8, stack=False):
    p = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "targets": [target(e, l, chr(ord("A") + i)) for i, (e, l) in enumerate(exprs)],
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "gridPos": {"w": w, "h": h},
        "options": {},
    }
    if kind == "timeseries":
        p["fieldConfig"]["defaults"]["custom"] = {
            "drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never",
            "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        }
        p["options"] = {"legend": {"displayMode": "table", "placement": "right", "calcs": ["lastNotNull"]},
                        "tooltip": {"mode": "multi", "sort": "desc"}}
    if kind == "stat":
        p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "textMode": "value_and_name", "colorMode": "none", "graphMode": "none"}
    return p


def row(title):
    return {"type": "row", "title": title, "collapsed": False, "gridPos": {"w": 24, "h": 1}, "panels": []}


# The leader alone exports the state gauges (conflicts, objects): a former leader clears them.
PANELS = [
    row("Leader and objects"),
    panel("Leader", "The replica holding the leader Lease (its Lease identity: pod name and a random suffix).",
          [(f"max by (identity) (scim_operator_leader_identity{{{J}}}) == 1", "{{identity}}")],
          kind="stat", w=8, h=5),
    panel("Objects per kind", "Users, Groups, Workspaces and RoleBindings the controller knows, all directories.",
          [(f"sum by (kind) (scim_operator_objects{{{J}}})", "{{kind}}")], kind="stat", w=8, h=5),
    panel("Conflicts per namespace", "Role conflicts now reported, per directory namespace.",
          [(f"sum by (namespace) (scim_operator_conflicts{{{J}}})", "{{namespace}}")], kind="stat", w=8, h=5),
    row("SCIM endpoint"),
    panel("SCIM requests by resource, method and status", "Requests per second the SCIM endpoint answered.",
          [(f"sum by (resource, method, status) (rate(scim_operator_scim_requests_total{{{J}}}[{RATE}]))",
            "{{method}} {{resource}} {{status}}")], unit="reqps", stack=True),
    panel("SCIM latency (p50, p99) by resource", "From scim_operator_scim_request_duration_seconds.",
          [(f"histogram_quantile(0.99, sum by (le, resource) (rate(scim_operator_scim_request_duration_seconds_bucket{{{J}}}[{RATE}])))",
            "p99 {{resource}}"),
           (f"histogram_quantile(0.5, sum by (le, resource) (rate(scim_operator_scim_request_duration_seconds_bucket{{{J}}}[{RATE}])))",
            "p50 {{resource}}")], unit="s"),
    panel("429 and 503 answers", "Overload (429, per-directory or global in-flight limit) and API server "
          "unavailable (503); both carry Retry-After.",
          [(f'sum by (status) (rate(scim_operator_scim_requests_total{{{J},status=~"429|503"}}[{RATE}]))',
            "{{status}}")], unit="reqps"),
    panel("Failure ratio per directory (Entra quarantines above 40 % with 5,000 failures)",
          "Share of a directory's requests in the last hour answered 4xx (but 404) or 5xx; the "
          "ScimOperatorEntraQuarantineRisk alert fires above 20 % with 1,000 failures.",
          [(f'sum by (namespace, directory) (increase(scim_operator_scim_directory_requests_total{{{J},status=~"[45]..",status!="404"}}[1h])) '
            f"/ sum by (namespace, directory) (increase(scim_operator_scim_directory_requests_total{{{J}}}[1h]))",
            "{{namespace}}/{{directory}}")], unit="percentunit"),
    panel("Provisioning activity per directory", "Writes (POST, PUT, PATCH, DELETE) of Users and Groups per directory.",
          [(f'sum by (namespace, directory, resource, method) (rate(scim_operator_scim_directory_requests_total{{{J},resource=~"Users|Groups",method=~"POST|PUT|PATCH|DELETE"}}[{RATE}]))',
            "{{namespace}}/{{directory}} {{method}} {{resource}}")], unit="reqps", stack=True, w=24),
    row("Controller"),
    panel("Reconciles", "Finished reconciles per second, by kind.",
          [(f"sum by (kind) (rate(scim_operator_reconciles_total{{{J}}}[{RATE}]))", "{{kind}}")], unit="ops", w=8),
    panel("Reconcile errors", "Failed reconciles per second, by kind and error class (each is retried with backoff).",
          [(f"sum by (kind, error) (rate(scim_operator_reconcile_errors_total{{{J}}}[{RATE}]))", "{{kind}} {{error}}")],
          unit="ops", w=8),
    panel("Reconcile duration (p50, p99)", "From scim_operator_reconcile_duration_seconds.",
          [(f"histogram_quantile(0.99, sum by (le, kind) (rate(scim_operator_reconcile_duration_seconds_bucket{{{J}}}[{RATE}])))",
            "p99 {{kind}}"),
           (f"histogram_quantile(0.5, sum by (le, kind) (rate(scim_operator_reconcile_duration_seconds_bucket{{{J}}}[{RATE}])))",
            "p50 {{kind}}")], unit="s", w=8),
    panel("Conflicts per workspace", "Role conflicts of each Workspace that has any (at most 50 per namespace; "
          "the rest are summed as _other).",
          [(f"sum by (namespace, workspace) (scim_operator_workspace_conflicts{{{J}}})", "{{namespace}}/{{workspace}}")]),
    panel("API writes", "Writes the controller sends to the API server, by kind and verb; a resync with no change writes nothing.",
          [(f"sum by (kind, verb) (rate(scim_operator_api_writes_total{{{J}}}[{RATE}]))", "{{verb}} {{kind}}")],
          unit="wps", stack=True),
    panel("Objects per kind over time", "Per directory namespace.",
          [(f"sum by (namespace, kind) (scim_operator_objects{{{J}}})", "{{namespace}} {{kind}}")], w=24),
    row("Watches"),
    panel("Watch relists", "Complete lists per watched kind: one per process start, more when a watch breaks (410 Gone).",
          [(f"sum by (instance, kind) (increase(scim_operator_watch_relists_total{{{J}}}[{RATE}]))", "{{instance}} {{kind}}")],
          w=8),
    panel("Watch events", "Events per second per watched kind.",
          [(f"sum by (kind) (rate(scim_operator_watch_events_total{{{J}}}[{RATE}]))", "{{kind}}")], unit="ops", w=8),
    panel("Seconds since the last watch event", "Per replica and kind; old while SCIM writes go on means a stalled watch.",
          [(f"time() - max by (instance, kind) (scim_operator_watch_last_event_timestamp_seconds{{{J}}})",
            "{{instance}} {{kind}}"),
           (f"sum by (instance, kind) (rate(scim_operator_watch_errors_total{{{J}}}[{RATE}]))", "errors/s {{instance}} {{kind}}")],
          unit="s", w=8),
]


def layout(panels):
    x = y = 0
    line = 0
    for i, p in enumerate(panels):
        p["id"] = i + 1
        w, h = p["gridPos"]["w"], p["gridPos"]["h"]
        if x + w > 24:
            x, y = 0, y + line
            line = 0
        p["gridPos"].update({"x": x, "y": y})
        x += w
        line = max(line, h)
    return panels


def main():
    dashboard = {
        "uid": "scim-operator",
        "title": "scim-operator",
        "description": "SCIM endpoint, controller and watches of scim-operator (charts/scim-operator, hack/dashboard.py).",
        "tags": ["scim-operator", "scim"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
             "current": {}, "hide": 0},
            {"name": "job", "label": "Job", "type": "query",
             "datasource": {"type": "prometheus", "uid": "${datasource}"},
             "query": {"query": "label_values(scim_operator_leader, job)", "refId": "job"},
             "definition": "label_values(scim_operator_leader, job)",
             "includeAll": True, "multi": True, "allValue": ".+", "current": {}, "refresh": 2, "hide": 0},
        ]},
        "annotations": {"list": []},
        "panels": layout(PANELS),
    }
    OUT.write_text(json.dumps(dashboard, indent=2) + "\n")


if __name__ == "__main__":
    main()
