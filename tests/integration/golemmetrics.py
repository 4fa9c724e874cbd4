# SPDX-License-Identifier: MIT
"""GET /metrics of a golem daemon, read: for the test scripts, like
golemopenapi.py.  ``scrape(d)`` checks the answer with Prometheus' own
``promtool check metrics`` (Debian's prometheus package, which tools/check
installs: its absence is a failure, not a skip) and parses it with the small
reader below, which also holds it to the text format 0.0.4: each family's
TYPE once and before its samples, each sample once, label values escaped,
histogram buckets cumulative and ending in +Inf equal to _count."""

import shutil
import subprocess

from golemworld import expect, expect_eq, http

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Exposition:
    """A parsed scrape: ``types`` {family: type}, ``helps`` {family: text}
    and ``samples`` {(name, ((label, value), ...)): float}, labels sorted."""

    def __init__(self, text):
        self.text = text
        self.types, self.helps, self.samples = {}, {}, {}
        self._order = []
        for number, line in enumerate(text.split("\n"), 1):
            if line:
                self._line(number, line)
        expect(text.endswith("\n"), "the exposition does not end in a newline")
        self._check_histograms()

    def _line(self, number, line):
        where = f"line {number} {line!r}"
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                family = parts[2]
                rest = parts[3] if len(parts) > 3 else ""
                if parts[1] == "TYPE":
                    expect(family not in self.types, f"{where}: a second TYPE")
                    expect(rest in ("counter", "gauge", "histogram",
                                    "summary", "untyped"), f"{where}: type")
                    self.types[family] = rest
                    self._order.append(family)
                else:
                    expect(family not in self.helps, f"{where}: a second HELP")
                    self.helps[family] = _unescape(rest, 0, where, quoted=False)[0]
            return
        name, labels, rest = _sample(line, where)
        fields = rest.split(" ")
        expect(len(fields) in (1, 2), f"{where}: value [timestamp]")
        value = _value(fields[0], where)
        family = self.family(name)
        expect(family in self.types, f"{where}: no TYPE before the sample")
        expect(self._order[-1] == family,
               f"{where}: a sample of {family} outside its family's block")
        key = (name, tuple(sorted(labels.items())))
        expect(key not in self.samples, f"{where}: a sample twice")
        self.samples[key] = value

    def family(self, name):
        """The family a sample name belongs to (a histogram's _bucket,
        _sum and _count are its own)."""
        for suffix in ("_bucket", "_sum", "_count"):
            base = name[:-len(suffix)]
            if name.endswith(suffix) and self.types.get(base) == "histogram":
                return base
        return name

    def _check_histograms(self):
        for family, kind in self.types.items():
            if kind != "histogram":
                continue
            series = {}
            for (name, labels), value in self.samples.items():
                if name == family + "_bucket":
                    rest = tuple(kv for kv in labels if kv[0] != "le")
                    le = dict(labels)["le"]
                    series.setdefault(rest, []).append(
                        (float(le.replace("+Inf", "inf")), value))
            for rest, buckets in series.items():
                buckets.sort()
                counts = [c for _, c in buckets]
                expect(counts == sorted(counts),
                       f"{family}{dict(rest)}: buckets not cumulative: {buckets}")
                expect(buckets[-1][0] == float("inf"), f"{family}: no +Inf bucket")
                expect_eq(buckets[-1][1], self.samples[(family + "_count", rest)],
                          f"{family}{dict(rest)}: +Inf bucket and _count")
                expect((family + "_sum", rest) in self.samples, f"{family}: _sum")

    def get(self, name, **labels):
        """The sample's value; fails when there is none."""
        key = (name, tuple(sorted(labels.items())))
        expect(key in self.samples, f"no sample {name}{labels} in the scrape")
        return self.samples[key]

    def value(self, name, default=0.0, **labels):
        """The sample's value, or ``default`` (a sparse series not yet seen)."""
        return self.samples.get((name, tuple(sorted(labels.items()))), default)

    def label_values(self, name, label):
        return {dict(labels).get(label) for (n, labels) in self.samples
                if n == name}


def _sample(line, where):
    """name, {label: value}, the rest of the line."""
    i = 0
    while i < len(line) and (line[i].isalnum() or line[i] in "_:"):
        i += 1
    name = line[:i]
    expect(name and not name[0].isdigit(), f"{where}: metric name")
    labels = {}
    if i < len(line) and line[i] == "{":
        i += 1
        while line[i:i + 1] != "}":
            expect(i < len(line), f"{where}: no closing brace")
            j = i
            while j < len(line) and (line[j].isalnum() or line[j] == "_"):
                j += 1
            label = line[i:j]
            expect(label and line[j:j + 2] == '="', f"{where}: label at {i}")
            value, j = _unescape(line, j + 2, where, quoted=True)
            expect(label not in labels, f"{where}: label {label} twice")
            labels[label] = value
            i = j + 1
            if line[i] == ",":
                i += 1
        i += 1
    expect(line[i:i + 1] == " ", f"{where}: a space before the value")
    return name, labels, line[i + 1:]


def _unescape(text, i, where, quoted):
    """The escaped text from ``i`` on: to the end of a HELP line, or to the
    closing quote of a label value (\\" is then an escape too); returns it
    and the index where it ended."""
    escapes = {"\\": "\\", "n": "\n", '"': '"'} if quoted else {"\\": "\\", "n": "\n"}
    out = []
    while i < len(text) and not (quoted and text[i] == '"'):
        if text[i] == "\\":
            escaped = escapes.get(text[i + 1:i + 2])
            expect(escaped is not None, f"{where}: escape at {i}")
            out.append(escaped)
            i += 2
        else:
            out.append(text[i])
            i += 1
    expect(not quoted or i < len(text), f"{where}: an unterminated label value")
    return "".join(out), i


def _value(text, where):
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    try:
        return float(text)
    except ValueError:
        raise AssertionError(f"{where}: value {text!r}")


def promtool():
    path = shutil.which("promtool")
    # A failure, not a skip: tools/check installs Debian's prometheus package.
    expect(path, "promtool not found: apt-get install prometheus")
    return path


def scrape(d):
    """GET /metrics of ``d``: checked by promtool, parsed."""
    status, headers, data = http("GET", d.url + "/metrics")
    expect_eq(status, 200, f"{d.name}: GET /metrics (body {data!r:.300})")
    expect_eq(headers.get("content-type"), CONTENT_TYPE, f"{d.name}: Content-Type")
    expect(isinstance(data, bytes), f"{d.name}: /metrics answered JSON")
    text = data.decode()
    proc = subprocess.run([promtool(), "check", "metrics"], input=text,
                          capture_output=True, text=True, timeout=60)
    expect(proc.returncode == 0 and not proc.stdout.strip() and not proc.stderr.strip(),
           f"{d.name}: promtool check metrics: exit {proc.returncode}: "
           f"{proc.stdout}{proc.stderr}")
    return Exposition(text)
