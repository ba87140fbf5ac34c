"""A generated data set of existing records for HQ's import and reports: offices, three years
of allegations, categories, realistic dispositions and durations, assignees, deadlines and
repeat subjects; deterministic for a seed.

Each record is one JSONL line for `fieldsync-server case import`; the same records feed the
independent computation of every report table in the tests (report_tables below).
"""
import datetime
import json
import math
import random

CATEGORIES = ["corruption", "bribery", "smuggling", "use-of-force", "civil-rights",
              "sexual-misconduct", "drugs-alcohol", "theft", "misuse-of-systems",
              "unauthorized-disclosure", "ethics", "off-duty-misconduct", "lack-of-candor",
              "neglect-of-duty", "other"]
DISPOSITIONS = ["sustained"] * 30 + ["not-sustained"] * 35 + ["unfounded"] * 20 + \
    ["exonerated"] * 10
OPEN_STATUSES = ["intake", "open", "investigation", "review", "pending-approval"]
SOURCES = ["hotline", "referral", "supervisor", "self-report", "public-complaint", "audit"]


def office_codes(n=30):
    return ["O%s%s" % (chr(65 + i // 26), chr(65 + i % 26)) for i in range(n)]


def iso(d):
    return d.strftime("%Y-%m-%d")


def records(count, seed=7, start=datetime.date(2023, 1, 1), days=3 * 365, noffices=30):
    """`count` records received over `days` days from `start` (dicts ready for json)."""
    rnd = random.Random(seed)
    codes = office_codes(noffices)
    repeat = ["EMP%06d" % i for i in range(max(10, count // 400))]  # the repeat subjects
    out = []
    for k in range(count):
        office = codes[min(int(rnd.expovariate(1 / 8.0)), noffices - 1)]  # some offices busier
        received = start + datetime.timedelta(days=rnd.randrange(days))
        fields = {"title": "Allegation %d" % k, "category": rnd.choice(CATEGORIES),
                  "received_at": iso(received), "source": rnd.choice(SOURCES),
                  "priority": str(rnd.randint(1, 4))}
        # most subjects appear once; a few draw many allegations, which the
        # early-intervention view (the subjects table) must find
        if rnd.random() < 0.9:
            fields["subject_id"] = (rnd.choice(repeat) if rnd.random() < 0.08
                                    else "EMP%06d" % (100000 + k))
        if rnd.random() < 0.85:
            fields["assignee"] = "inv%02d" % rnd.randrange(40)
        if rnd.random() < 0.7:
            fields["due_at"] = iso(received + datetime.timedelta(days=rnd.choice([90, 180])))
        if rnd.random() < 0.75:
            closed = received + datetime.timedelta(days=int(rnd.lognormvariate(4.3, 0.6)))
            fields["status"] = "closed"
            fields["closed_at"] = iso(closed)
            fields["disposition"] = rnd.choice(DISPOSITIONS)
        else:
            fields["status"] = rnd.choice(OPEN_STATUSES)
        rec = {"office": office, "fields": fields}
        if k % 50 == 0:
            rec["narrative"] = "Record %d brought in from the legacy system." % k
            rec["notes"] = ["Legacy note %d." % k]
        out.append(rec)
    return out


def write_jsonl(path, recs):
    with open(path, "w") as f:
        for r in recs:
            f.write(json.dumps(r) + "\n")


def _days(a, b):
    return (datetime.date.fromisoformat(b) - datetime.date.fromisoformat(a)).days


def _nearest_rank(sorted_values, p):
    return sorted_values[max(0, math.ceil(p * len(sorted_values)) - 1)]


def report_tables(recs, frm, to, min_allegations=3):
    """Every report table, computed from the records alone, as lists of row dicts in the
    order `fieldsync-server report --json` prints them."""
    f = [r["fields"] | {"office": r["office"]} for r in recs]
    inside = lambda d: d is not None and frm <= d <= to  # noqa: E731
    received, closed, spans, caseload, overdue, subj = {}, {}, {}, {}, [], {}
    for x in f:
        if inside(x.get("received_at")):
            key = (x["office"], x["category"])
            received[key] = received.get(key, 0) + 1
            if x.get("subject_id"):
                s = subj.setdefault(x["subject_id"], [0, set()])
                s[0] += 1
                s[1].add(x["office"])
        if x.get("status") == "closed" and inside(x.get("closed_at")):
            key = (x["office"], x.get("disposition", ""))
            closed[key] = closed.get(key, 0) + 1
            spans.setdefault(x["office"], []).append(_days(x["received_at"], x["closed_at"]))
        open_at_end = x.get("received_at") and x["received_at"] <= to and not (
            x.get("status") == "closed" and x.get("closed_at") and x["closed_at"] <= to)
        if open_at_end:
            key = (x["office"], x.get("assignee", ""))
            caseload[key] = caseload.get(key, 0) + 1
            if x.get("due_at") and x["due_at"] < to:
                overdue.append({"office": x["office"], "title": x["title"],
                                "assignee": x.get("assignee", ""), "due_at": x["due_at"],
                                "days_overdue": _days(x["due_at"], to)})
    tables = {
        "received": [{"office": o, "category": c, "received": n}
                     for (o, c), n in sorted(received.items())],
        "closed": [{"office": o, "disposition": d, "closed": n}
                   for (o, d), n in sorted(closed.items())],
        "timeliness": [{"office": o, "closed": len(v),
                        "median_days": _nearest_rank(sorted(v), 0.5),
                        "p90_days": _nearest_rank(sorted(v), 0.9)}
                       for o, v in sorted(spans.items())],
        "caseload": [{"office": o, "assignee": a, "open": n}
                     for (o, a), n in sorted(caseload.items())],
        "overdue": sorted(overdue, key=lambda r: (r["office"], -r["days_overdue"], r["title"])),
        "subjects": sorted(({"subject_id": s, "allegations": v[0],
                             "offices": ";".join(sorted(v[1]))}
                            for s, v in subj.items() if v[0] >= min_allegations),
                           key=lambda r: (-r["allegations"], r["subject_id"])),
    }
    return tables
