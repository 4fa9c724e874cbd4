# Flattens a NoCloud document (meta-data or a #cloud-config user-data) into
# "path<TAB>value" lines, for the guest's init: busybox awk, no other tools.
#
#   awk -f cloud-config.awk user-data
#   ssh_authorized_keys.0	ssh-ed25519 AAAA... c
#   hostname	web
#   users.0.name	ubuntu
#
# Understands JSON (cloud-init accepts it as YAML; the provider writes the
# document after the "#cloud-config" line as JSON) and the block YAML that
# cloud-config files are written in: "key: value", "key:" followed by a
# "- item" list or an indented map, lists of maps ("- name: x"), flow
# collections ("[a, 'b']", "{k: v}"), quoted scalars, comments, and block
# scalars ("|", ">") which are skipped. Anchors, tags, multi-line plain
# scalars and multiple documents are not supported; what cannot be parsed is
# skipped, never fatal. Newlines inside values become spaces.

function emit(path, v) {
    if (path == "" || v == "null" || v == "~") return
    gsub(/[\r\n]/, " ", v)
    print path "\t" v
}

function join(a, b) { return a == "" ? b : a "." b }

function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }

# --- flow (JSON-like) parser over S from position P -------------------------------

function fp_ws(   c) {
    for (;;) {
        c = substr(S, P, 1)
        if (c == " " || c == "\t" || c == "\n" || c == "\r") { P++; continue }
        if (c == "#" && (P == 1 || substr(S, P - 1, 1) ~ /[ \t\n]/)) {
            while (P <= L && substr(S, P, 1) != "\n") P++
            continue
        }
        return c
    }
}

function hexval(h,   i, n, c) {
    n = 0
    h = tolower(h)
    for (i = 1; i <= length(h); i++) {
        c = index("0123456789abcdef", substr(h, i, 1))
        if (c == 0) return -1
        n = n * 16 + c - 1
    }
    return n
}

# A double-quoted string starting at P (which is on the opening quote).
function fp_dq(   out, c, n) {
    out = ""
    P++
    while (P <= L) {
        c = substr(S, P, 1)
        if (c == "\"") { P++; return out }
        if (c == "\\") {
            P++
            c = substr(S, P, 1)
            if (c == "n" || c == "r" || c == "t") out = out " "
            else if (c == "b" || c == "f") out = out
            else if (c == "u") {
                n = hexval(substr(S, P + 1, 4))
                out = out ((n >= 32 && n < 127) ? sprintf("%c", n) : "?")
                P += 4
            } else out = out c          # \" \\ \/ and anything else: the char itself
            P++
            continue
        }
        out = out c
        P++
    }
    return out
}

# A single-quoted string ('' is a quote).
function fp_sq(   out, c) {
    out = ""
    P++
    while (P <= L) {
        c = substr(S, P, 1)
        if (c == "'") {
            if (substr(S, P + 1, 1) == "'") { out = out "'"; P += 2; continue }
            P++
            return out
        }
        out = out c
        P++
    }
    return out
}

# A plain scalar: up to , ] } or a newline; in a key, also up to ':'.
function fp_bare(iskey,   start, c) {
    start = P
    while (P <= L) {
        c = substr(S, P, 1)
        if (c == "," || c == "]" || c == "}" || c == "\n") break
        if (iskey && c == ":") break
        P++
    }
    return trim(substr(S, start, P - start))
}

function fp_value(path,   c) {
    c = fp_ws()
    if (c == "{") { P++; fp_map(path) }
    else if (c == "[") { P++; fp_seq(path) }
    else if (c == "\"") emit(path, fp_dq())
    else if (c == "'") emit(path, fp_sq())
    else emit(path, fp_bare(0))
}

function fp_map(path,   c, key, before) {
    for (;;) {
        c = fp_ws()
        if (P > L) return
        if (c == "}") { P++; return }
        before = P
        if (c == "\"") key = fp_dq()
        else if (c == "'") key = fp_sq()
        else key = fp_bare(1)
        c = fp_ws()
        if (c == ":") { P++; fp_value(join(path, key)) }
        c = fp_ws()
        if (c == ",") { P++; continue }
        if (c == "}") { P++; return }
        if (P == before) P++            # no progress: skip a character
        if (P > L) return
    }
}

function fp_seq(path,   c, i, before) {
    i = 0
    for (;;) {
        c = fp_ws()
        if (P > L) return
        if (c == "]") { P++; return }
        before = P
        fp_value(join(path, i))
        i++
        c = fp_ws()
        if (c == ",") { P++; continue }
        if (c == "]") { P++; return }
        if (P == before) P++
        if (P > L) return
    }
}

function flow(text, path) {
    S = text; L = length(S); P = 1
    fp_value(path)
}

# --- block YAML --------------------------------------------------------------------

# A scalar after "key:" or "- ": quoted, flow, or plain (a " #" starts a comment).
function block_value(path, v) {
    v = trim(v)
    if (v == "") return
    if (v ~ /^[\[\{"']/) { flow(v, path); return }
    sub(/[ \t]+#.*$/, "", v)
    emit(path, v)
}

# Splits "key: rest" into KEY and REST; returns 0 when the text is not a map entry.
function split_key(t,   i, k) {
    if (t ~ /^"/) {
        S = t; L = length(S); P = 1
        k = fp_dq()
        t = substr(t, P)
        if (t !~ /^[ \t]*:([ \t]|$)/) return 0
        sub(/^[ \t]*:/, "", t)
        KEY = k; REST = t
        return 1
    }
    if (t ~ /^'/) {
        S = t; L = length(S); P = 1
        k = fp_sq()
        t = substr(t, P)
        if (t !~ /^[ \t]*:([ \t]|$)/) return 0
        sub(/^[ \t]*:/, "", t)
        KEY = k; REST = t
        return 1
    }
    if (t ~ /^[\[\{]/) return 0
    if (match(t, /:([ \t]|$)/) == 0) return 0
    KEY = trim(substr(t, 1, RSTART - 1))
    REST = substr(t, RSTART + 1)
    return KEY != ""
}

# Stack of open collections: column, kind ("map"/"seq"), path, next index.
function open_level(col, kind, path) {
    D++
    LCOL[D] = col; LKIND[D] = kind; LPATH[D] = path; LIDX[D] = 0
}

# A map entry "key: value" at column col.
function map_entry(col, t,   path, rest) {
    if (!split_key(t)) return
    while (D > 0 && (LCOL[D] > col || (LCOL[D] == col && LKIND[D] == "seq"))) D--
    if (D == 0 || LCOL[D] < col) open_level(col, "map", PENDING)
    path = join(LPATH[D], KEY)
    rest = trim(REST)
    PENDING = path
    if (rest ~ /^[|>]/) { SKIP = col; return }
    if (rest != "") block_value(path, rest)
}

function seq_item(col, t,   path, rest, c2) {
    while (D > 0 && LCOL[D] > col) D--
    if (D == 0 || LCOL[D] < col || LKIND[D] != "seq") open_level(col, "seq", PENDING)
    path = join(LPATH[D], LIDX[D])
    LIDX[D]++
    PENDING = path
    rest = substr(t, 2)
    c2 = col + 1
    while (substr(rest, 1, 1) == " " || substr(rest, 1, 1) == "\t") { rest = substr(rest, 2); c2++ }
    if (rest == "") return
    if (rest ~ /^-([ \t]|$)/) { seq_item(c2, rest); return }
    if (split_key(rest)) { map_entry(c2, rest); return }
    if (rest ~ /^[|>]/) { SKIP = col; return }
    block_value(path, rest)
}

function block_line(line,   col, t) {
    sub(/\r$/, "", line)
    t = line
    sub(/^[ ]+/, "", t)
    col = length(line) - length(t)
    if (SKIP >= 0) {
        if (t == "" || col > SKIP) return
        SKIP = -1
    }
    if (t == "" || t ~ /^#/ || t ~ /^(---|\.\.\.)([ \t]|$)/) return
    if (t ~ /^-([ \t]|$)/) seq_item(col, t)
    else map_entry(col, t)
}

BEGIN { MODE = ""; DOC = ""; D = 0; PENDING = ""; SKIP = -1 }

{
    if (MODE == "") {
        t = $0
        sub(/\r$/, "", t)
        if (t ~ /^[ \t]*(#.*)?$/ || t ~ /^(---)[ \t]*$/) next
        MODE = (t ~ /^[ \t]*[\[\{]/) ? "flow" : "block"
    }
    if (MODE == "flow") DOC = DOC $0 "\n"
    else block_line($0)
}

END { if (MODE == "flow") flow(DOC, "") }
