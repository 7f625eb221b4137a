#!/usr/bin/env python3
"""Generates crates/api/src/typed/gotypes.rs: the Go type of every field of the
built-in API structs, as Go's encoding/json (sigs.k8s.io/json) sees them, so that
Skiff can type-check JSON bodies and word errors the way the Go API server does
(`json: cannot unmarshal number into Go struct field Container.spec.containers.
imagePullPolicy of type v1.PullPolicy`).

Usage:

    scripts/gen-gotypes.py --api SRC --apimachinery SRC \\
        --apiextensions SRC --aggregator SRC [-o OUT]

where each SRC is either a checkout directory of the module (k8s.io/api,
k8s.io/apimachinery, k8s.io/apiextensions-apiserver, k8s.io/kube-aggregator) or
a git directory followed by `@REV` (a bare clone or mirror; read with
`git show`, no work tree needed). Without -o the Rust source goes to stdout.
The file checked in was made from the v0.33.13 tags:

    M=/work/.mirror
    scripts/gen-gotypes.py \\
        --api $M/kubernetes+api/repo@v0.33.13 \\
        --apimachinery $M/kubernetes+apimachinery/repo@v0.33.13 \\
        --apiextensions $M/kubernetes+apiextensions-apiserver/repo@v0.33.13 \\
        --aggregator $M/kubernetes+kube-aggregator/repo@v0.33.13 \\
        -o crates/api/src/typed/gotypes.rs

What is read: every k8s.io/api/<group>/<version> package (all its .go files
but tests and generated code), meta/v1's types.go, time.go, micro_time.go,
duration.go, group_version.go and watch.go, pkg/api/resource's quantity.go,
pkg/util/intstr's intstr.go, pkg/runtime's types.go, pkg/types, and the
apiextensions.k8s.io/v1 and apiregistration.k8s.io/v1 types. Methods
(UnmarshalJSON / UnmarshalText) are looked for in every .go file of a package.

What is emitted:
- STRUCTS, sorted by (import path, struct name): every exported struct of those
  files that has no JSON unmarshaler of its own (and every struct such a field
  refers to), with its JSON fields computed as encoding/json's typeFields does
  (`json:"-"` skipped, unexported fields skipped, embedded structs without a
  tag name flattened breadth-first, Go's dominance rules for duplicate names,
  the Go field name when there is no tag name), sorted by JSON name.
- KINDS, sorted by (group, version, kind): every type each group version's
  register.go registers (`&Kind{}` in its addKnownTypes), with its struct.
Types are: builtins; `[]byte` (base64); pointers, slices, maps; named
non-struct types as Named("pkg.Name", underlying) (`pkg` being the package
clause, as reflect prints it); structs as Struct(import path, name); types
with an UnmarshalJSON or UnmarshalText method (own or promoted from an
embedded field) as Custom("pkg.Name").
"""
import argparse, collections, os, re, subprocess, sys

# ---------------------------------------------------------------- sources


class Root:
    """A module's source: a directory, or GIT_DIR@REV."""

    def __init__(self, module, spec):
        self.module = module
        if "@" in spec and not os.path.isdir(spec):
            self.gitdir, self.rev = spec.rsplit("@", 1)
            self.commit = self.git("rev-parse", self.rev + "^{commit}").strip()
            self.dir = None
            self.label = "%s %s (%s)" % (module, self.rev, self.commit)
        else:
            self.gitdir = None
            self.dir = spec
            self.label = "%s (%s)" % (module, spec)
            if os.path.exists(os.path.join(spec, ".git")):
                c = subprocess.run(["git", "-C", spec, "describe", "--tags", "--always", "--dirty"],
                                   capture_output=True, text=True).stdout.strip()
                if c:
                    self.label = "%s %s" % (module, c)

    def git(self, *args):
        return subprocess.run(["git", "--git-dir=" + self.gitdir] + list(args),
                              capture_output=True, text=True, check=True).stdout

    def files(self, rel):
        """The file names (not directories) directly in rel."""
        if self.dir is not None:
            d = os.path.join(self.dir, rel)
            if not os.path.isdir(d):
                return []
            return sorted(f for f in os.listdir(d) if os.path.isfile(os.path.join(d, f)))
        out = []
        for line in self.git("ls-tree", self.commit, rel.rstrip("/") + "/").splitlines():
            meta, path = line.split("\t", 1)
            if meta.split()[1] == "blob":
                out.append(path.rsplit("/", 1)[-1])
        return sorted(out)

    def dirs(self, rel):
        """The directory names directly in rel ("" for the root)."""
        if self.dir is not None:
            d = os.path.join(self.dir, rel)
            return sorted(f for f in os.listdir(d) if os.path.isdir(os.path.join(d, f)) and not f.startswith("."))
        out = []
        target = self.commit if not rel else self.commit + ":" + rel.rstrip("/")
        for line in self.git("ls-tree", target).splitlines():
            meta, path = line.split("\t", 1)
            if meta.split()[1] == "tree" and not path.startswith("."):
                out.append(path)
        return sorted(out)

    def read(self, rel):
        if self.dir is not None:
            return open(os.path.join(self.dir, rel), encoding="utf-8").read()
        return self.git("show", "%s:%s" % (self.commit, rel))


ROOTS = {}  # module path -> Root


def locate(path):
    """(Root, relative dir) of an import path, or None when outside the roots."""
    for module, root in ROOTS.items():
        if path == module or path.startswith(module + "/"):
            return root, path[len(module) + 1:]
    return None


# ---------------------------------------------------------------- Go lexer

TOKEN = re.compile(r"""
    (?P<nl>\n)
  | (?P<ws>[ \t\r\f]+)
  | (?P<lc>//[^\n]*)
  | (?P<bc>/\*.*?\*/)
  | (?P<raw>`[^`]*`)
  | (?P<str>"(?:[^"\\\n]|\\.)*")
  | (?P<rune>'(?:[^'\\\n]|\\.)*')
  | (?P<num>\.?[0-9][0-9A-Za-z_.]*)
  | (?P<id>[A-Za-z_][A-Za-z_0-9]*)
  | (?P<op>\.\.\.|:=|<-|&&|\|\||==|!=|<=|>=|<<=|>>=|<<|>>|&\^=|&\^|\+\+|--|[-+*/%&|^]=|.)
""", re.S | re.X)

NL = ("nl", "\n")


def lex(src):
    toks = []
    for m in TOKEN.finditer(src):
        kind = m.lastgroup
        text = m.group()
        if kind in ("ws", "lc"):
            continue
        if kind == "bc":
            if "\n" in text:
                toks.append(NL)
            continue
        if kind == "raw":
            toks.append(("str", text[1:-1]))
        elif kind == "str":
            toks.append(("str", bytes(text[1:-1], "utf-8").decode("unicode_escape")))
        else:
            toks.append((kind, text))
    toks.append(("eof", ""))
    return toks


# ---------------------------------------------------------------- Go parser

OPEN = {"(": ")", "[": "]", "{": "}"}


class ParseError(Exception):
    pass


class File:
    def __init__(self, name, src):
        self.name = name
        self.toks = lex(src)
        self.package = None
        self.imports = {}  # alias (None for unaliased) -> path
        self.unaliased = []  # import paths without alias
        self.types = []  # (name, is_alias, expr)
        self.methods = []  # (receiver type name, method name)
        self.parse()

    def t(self, i):
        return self.toks[i]

    def skip_balanced(self, i):
        """i at an opening bracket: the index after its closing one."""
        depth = 0
        while True:
            k, v = self.toks[i]
            if k == "eof":
                raise ParseError("%s: unbalanced brackets" % self.name)
            if k == "op" and v in "([{":
                depth += 1
            elif k == "op" and v in ")]}":
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1

    def specs(self, i, spec):
        """One spec, or a parenthesized group of them (`import (...)`, `type (...)`)."""
        if self.toks[i] != ("op", "("):
            return spec(i)
        i += 1
        while True:
            i = self.skip_nl(i)
            if self.toks[i] == ("op", ")"):
                return i + 1
            i = spec(i)

    def skip_nl(self, i):
        while self.toks[i] == NL or self.toks[i] == ("op", ";"):
            i += 1
        return i

    def parse(self):
        i = 0
        toks = self.toks
        while toks[i][0] != "eof":
            k, v = toks[i]
            if k == "id" and v == "package":
                self.package = toks[i + 1][1]
                i += 2
            elif k == "id" and v == "import":
                i = self.specs(i + 1, self.import_spec)
            elif k == "id" and v == "type":
                i = self.specs(i + 1, self.type_spec)
            elif k == "id" and v == "func":
                i = self.func(i)
            elif k == "op" and v in OPEN:
                i = self.skip_balanced(i)
            else:
                i += 1

    def import_spec(self, i):
        alias = None
        if self.toks[i][0] != "str":
            alias = self.toks[i][1]
            i += 1
        path = self.toks[i][1]
        if alias is None:
            self.unaliased.append(path)
        elif alias not in ("_", "."):
            self.imports[alias] = path
        return i + 1

    def type_spec(self, i):
        k, name = self.toks[i]
        if k != "id":
            raise ParseError("%s: type name expected, got %r" % (self.name, self.toks[i]))
        i += 1
        alias = False
        if self.toks[i] == ("op", "="):
            alias = True
            i += 1
        if self.toks[i] == ("op", "[") and self.toks[i + 1][0] == "id" and self.toks[i + 2][0] == "id":
            # type parameters: generic types are not API types
            i = self.skip_balanced(i)
            expr, i = self.type_expr(i)
            self.types.append((name, alias, ("unsupported", "generic")))
            return i
        expr, i = self.type_expr(i)
        self.types.append((name, alias, expr))
        return i

    def func(self, i):
        toks = self.toks
        i += 1
        if toks[i] == ("op", "("):
            end = self.skip_balanced(i)
            ids = [v for k, v in toks[i + 1:end - 1] if k == "id"]
            if toks[end][0] == "id" and toks[end + 1] == ("op", "(") and ids:
                self.methods.append((ids[-1], toks[end][1]))
            i = end
        # the signature, then the body (if any)
        depth = 0
        while True:
            k, v = toks[i]
            if k == "eof":
                return i
            if k == "id" and v in ("interface", "struct") and toks[i + 1] == ("op", "{"):
                i = self.skip_balanced(i + 1)
                continue
            if k == "op" and v in "([":
                depth += 1
            elif k == "op" and v in ")]":
                depth -= 1
            elif k == "op" and v == "{" and depth == 0:
                return self.skip_balanced(i)
            elif toks[i] == NL and depth == 0:
                return i
            i += 1

    def type_expr(self, i):
        toks = self.toks
        k, v = toks[i]
        if k == "op" and v == "*":
            e, i = self.type_expr(i + 1)
            return ("ptr", e), i
        if k == "op" and v == "(":
            e, i = self.type_expr(i + 1)
            assert toks[i] == ("op", ")")
            return e, i + 1
        if k == "op" and v == "[":
            if toks[i + 1] == ("op", "]"):
                e, i = self.type_expr(i + 2)
                return ("slice", e), i
            end = self.skip_balanced(i)
            e, i = self.type_expr(end)
            return ("array", e), i
        if k == "id" and v == "map":
            assert toks[i + 1] == ("op", "[")
            key, j = self.type_expr(i + 2)
            assert toks[j] == ("op", "]"), toks[j]
            val, j = self.type_expr(j + 1)
            return ("map", key, val), j
        if k == "id" and v == "struct":
            return self.struct_body(i + 1)
        if k == "id" and v == "interface":
            end = self.skip_balanced(i + 1)
            empty = all(t == NL for t in toks[i + 2:end - 1])
            return ("iface", empty), end
        if k == "id" and v in ("func", "chan"):
            # skip to the end of the line (not an API type)
            while toks[i] != NL and toks[i][0] != "eof" and toks[i] != ("op", ";"):
                if toks[i][0] == "op" and toks[i][1] in OPEN:
                    i = self.skip_balanced(i)
                else:
                    i += 1
            return ("unsupported", v), i
        if k == "id":
            if toks[i + 1] == ("op", ".") and toks[i + 2][0] == "id":
                return ("qual", v, toks[i + 2][1]), i + 3
            return ("ident", v), i + 1
        raise ParseError("%s: type expected, got %r" % (self.name, toks[i]))

    def struct_body(self, i):
        toks = self.toks
        assert toks[i] == ("op", "{"), toks[i]
        i += 1
        fields = []
        while True:
            i = self.skip_nl(i)
            if toks[i] == ("op", "}"):
                return ("struct", fields), i + 1
            k, v = toks[i]
            if k == "op" and v == "*":
                e, i = self.type_expr(i + 1)
                f = {"names": None, "type": ("ptr", e)}
            elif k == "id":
                nk, nv = toks[i + 1]
                if (nk, nv) == ("op", "."):
                    e, i = self.type_expr(i)
                    f = {"names": None, "type": e}
                elif toks[i + 1] == NL or (nk, nv) in (("op", ";"), ("op", "}")) or nk == "str":
                    f = {"names": None, "type": ("ident", v)}
                    i += 1
                else:
                    names = [v]
                    i += 1
                    while toks[i] == ("op", ","):
                        names.append(toks[i + 1][1])
                        i += 2
                    e, i = self.type_expr(i)
                    f = {"names": names, "type": e}
            else:
                raise ParseError("%s: field expected, got %r" % (self.name, toks[i]))
            f["tag"] = ""
            if toks[i][0] == "str":
                f["tag"] = toks[i][1]
                i += 1
            if not (toks[i] == NL or toks[i] in (("op", ";"), ("op", "}"))):
                raise ParseError("%s: end of field expected, got %r" % (self.name, toks[i]))
            fields.append(f)


# ---------------------------------------------------------------- packages

SKIP_FILE = re.compile(r"(_test\.go|^zz_generated\..*|^generated\.pb\.go|_swagger_doc_generated\.go|^doc\.go|^register\.go|_fuzz\.go)$")

# files whose types are read, for the apimachinery packages (the others: every file)
TYPE_FILES = {
    "k8s.io/apimachinery/pkg/apis/meta/v1": ["types.go", "time.go", "micro_time.go", "duration.go", "group_version.go", "watch.go"],
    "k8s.io/apimachinery/pkg/api/resource": ["quantity.go"],
    "k8s.io/apimachinery/pkg/util/intstr": ["intstr.go"],
    "k8s.io/apimachinery/pkg/runtime": ["types.go"],
    "k8s.io/apimachinery/pkg/types": None,
    "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1": ["types.go", "types_jsonschema.go"],
    "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1": ["types.go"],
}

# internal types among the API ones (not served, no JSON form)
SKIP_TYPES = {("k8s.io/apimachinery/pkg/apis/meta/v1", "InternalEvent")}

BUILTIN = {
    "string": ("String",), "bool": ("Bool",),
    "int8": ("Int", 8, True), "int16": ("Int", 16, True), "int32": ("Int", 32, True), "int64": ("Int", 64, True),
    "uint8": ("Int", 8, False), "byte": ("Int", 8, False), "uint16": ("Int", 16, False),
    "uint32": ("Int", 32, False), "uint64": ("Int", 64, False), "rune": ("Int", 32, True),
    "float32": ("Float", 32), "float64": ("Float", 64),
}
UNSUPPORTED_BUILTIN = {"int", "uint", "uintptr", "complex64", "complex128", "error", "any"}


class Package:
    def __init__(self, path):
        self.path = path
        loc = locate(path)
        if loc is None:
            raise KeyError("package %s is outside the source roots" % path)
        root, rel = loc
        self.root, self.rel = root, rel
        names = [f for f in root.files(rel) if f.endswith(".go") and not f.endswith("_test.go")]
        if not names:
            raise KeyError("no Go files in %s" % path)
        wanted = TYPE_FILES.get(path)
        self.types = {}  # name -> (is_alias, expr, File)
        self.order = []
        self.methods = collections.defaultdict(set)
        self.name = None
        self.register = None
        for n in names:
            src = root.read(rel + "/" + n)
            if n == "register.go":
                self.register = src
            # methods from every file; the package clause from any
            for m in re.finditer(r"^func\s*\(\s*(?:\w+\s+)?\*?\s*(\w+)\s*\)\s*(\w+)\s*\(", src, re.M):
                self.methods[m.group(1)].add(m.group(2))
            if wanted is not None and n not in wanted:
                continue
            if wanted is None and SKIP_FILE.search(n):
                continue
            f = File(path + "/" + n, src)
            if self.name is None:
                self.name = f.package
            assert self.name == f.package, (path, n, f.package)
            for tname, alias, expr in f.types:
                self.types[tname] = (alias, expr, f)
                self.order.append(tname)
        if self.name is None:
            m = re.search(r"^package\s+(\w+)", root.read(rel + "/" + names[0]), re.M)
            self.name = m.group(1)


PACKAGES = {}


def package(path):
    if path not in PACKAGES:
        PACKAGES[path] = Package(path)
    return PACKAGES[path]


def import_path(f, alias):
    if alias in f.imports:
        return f.imports[alias]
    for p in f.unaliased:
        loc = locate(p)
        if loc is not None:
            if package(p).name == alias:
                return p
        elif p.rsplit("/", 1)[-1] == alias:
            return p
    raise KeyError("%s: unknown package %s" % (f.name, alias))


WARNINGS = []


def warn(msg):
    if msg not in WARNINGS:
        WARNINGS.append(msg)
        print("warning: " + msg, file=sys.stderr)


# ---------------------------------------------------------------- resolution

# Python forms of the Rust GoType: ("String",), ("Bool",), ("Int", bits, signed),
# ("Float", bits), ("Bytes",), ("Pointer", t), ("Slice", t), ("Map", k, v),
# ("Struct", path, name), ("Named", printed, underlying), ("Custom", printed),
# ("Interface",)

CUSTOM = {}  # (path, name) -> bool
STRUCT_REFS = set()  # (path, name) of structs a type refers to
KIND_OF_CUSTOM = {}  # printed name -> Go kind ("struct" or other)


def is_custom(pkg, name, seen=()):
    key = (pkg.path, name)
    if key in CUSTOM:
        return CUSTOM[key]
    own = pkg.methods.get(name, set()) & {"UnmarshalJSON", "UnmarshalText"}
    result = bool(own)
    sd = struct_def(pkg, name) if name in pkg.types else None
    if not result and sd is not None and key not in seen:
        # methods promoted from embedded fields
        spkg, f, expr = sd
        for fd in expr[1]:
            if fd["names"] is not None:
                continue
            e = fd["type"][1] if fd["type"][0] == "ptr" else fd["type"]
            target = named_target(spkg, f, e)
            if target is None:
                continue
            tp, tn = target
            if is_custom(tp, tn, seen + (key,)):
                warn("%s.%s is custom: it embeds %s.%s" % (pkg.name, name, tp.name, tn))
                result = True
    CUSTOM[key] = result
    return result


def named_target(pkg, f, e):
    """(Package, name) of the defined type a named type expression denotes
    (aliases followed), or None for builtins and types outside the roots."""
    if e[0] == "ident":
        if e[1] in BUILTIN or e[1] in UNSUPPORTED_BUILTIN:
            return None
        target = (pkg, e[1])
    elif e[0] == "qual":
        p = import_path(f, e[1])
        if locate(p) is None:
            if p == "time" and e[2] == "Time":
                return TIME_PKG, e[2]
            return None
        target = (package(p), e[2])
    else:
        return None
    tp, tn = target
    if tn in tp.types and tp.types[tn][0]:
        _, expr, tf = tp.types[tn]
        return named_target(tp, tf, expr)
    return target


def struct_def(pkg, name):
    """(Package, File, struct expression) of the struct literal a defined type
    has as its underlying type (`type A B` takes B's fields), or None."""
    seen = set()
    while (pkg.path, name) not in seen:
        seen.add((pkg.path, name))
        if name not in pkg.types:
            return None
        alias, expr, f = pkg.types[name]
        if expr[0] == "struct":
            return pkg, f, expr
        target = named_target(pkg, f, expr)
        if target is None or target[0] is TIME_PKG:
            return None
        pkg, name = target
    return None


class _TimePackage:
    """The bits of the standard library's time package the API types touch."""
    path = "time"
    name = "time"
    types = {}
    methods = {"Time": {"UnmarshalJSON", "UnmarshalText"}}


TIME_PKG = _TimePackage()


def resolve(pkg, f, e, where):
    k = e[0]
    if k == "ident":
        if e[1] in BUILTIN:
            return BUILTIN[e[1]]
        if e[1] in UNSUPPORTED_BUILTIN:
            raise KeyError("%s: builtin type %s is not supported" % (where, e[1]))
        return resolve_named(pkg, e[1], where)
    if k == "qual":
        p = import_path(f, e[1])
        if locate(p) is None:
            if p == "time" and e[2] == "Time":
                return ("Custom", "time.Time")
            raise KeyError("%s: type %s.%s from %s is outside the source roots" % (where, e[1], e[2], p))
        return resolve_named(package(p), e[2], where)
    if k == "ptr":
        return ("Pointer", resolve(pkg, f, e[1], where))
    if k == "slice":
        if e[1] in (("ident", "byte"), ("ident", "uint8")):
            return ("Bytes",)
        elem = resolve(pkg, f, e[1], where)
        under = elem[2] if elem[0] == "Named" else elem
        if under == ("Int", 8, False):
            raise KeyError("%s: slice of a named uint8 type" % where)
        return ("Slice", elem)
    if k == "map":
        return ("Map", resolve(pkg, f, e[1], where), resolve(pkg, f, e[2], where))
    if k == "iface":
        return ("Interface",)
    raise KeyError("%s: unsupported type %r" % (where, e))


def resolve_named(pkg, name, where):
    if name not in pkg.types:
        raise KeyError("%s: type %s.%s not found in %s" % (where, pkg.name, name, pkg.path))
    alias, expr, f = pkg.types[name]
    if alias:
        return resolve(pkg, f, expr, where)
    printed = "%s.%s" % (pkg.name, name)
    if is_custom(pkg, name):
        KIND_OF_CUSTOM[printed] = "struct" if expr[0] == "struct" else "other"
        return ("Custom", printed)
    if struct_def(pkg, name) is not None:
        if expr[0] != "struct":
            warn("%s is defined over another struct type; it has that one's fields" % printed)
        STRUCT_REFS.add((pkg.path, name))
        return ("Struct", pkg.path, name)
    if expr[0] == "iface":
        return ("Named", printed, ("Interface",))
    under = resolve(pkg, f, expr, where)
    if under[0] == "Named":
        under = under[2]
    if under[0] in ("Struct", "Custom"):
        raise KeyError("%s: %s is a named type over the struct %r" % (where, printed, under))
    return ("Named", printed, under)


# ---------------------------------------------------------------- JSON fields

VALID_TAG_PUNCT = set("!#$%&()*+-./:;<=>?@[]^_{|}~ ")


def valid_tag(s):
    if not s:
        return False
    for c in s:
        if c in VALID_TAG_PUNCT:
            continue
        if c == "\\" or c == '"' or c == "'" or c == "`" or c == ",":
            return False
        if not (c.isalpha() or c.isdigit()):
            return False
    return True


def json_tag(tag):
    for m in re.finditer(r'([^\s:"]+):"((?:[^"\\]|\\.)*)"', tag):
        if m.group(1) == "json":
            return m.group(2)
    return None


def struct_fields(pkg, name):
    """The JSON fields of a struct, as encoding/json's typeFields computes them:
    [(json name, GoType, omitempty)], sorted by name."""
    fields = []
    current, nxt = [], [(pkg, name, ())]
    count, next_count = {}, {(pkg.path, name): 1}
    visited = set()
    while nxt:
        current, nxt = nxt, []
        count, next_count = next_count, {}
        for (p, n, index) in current:
            key = (p.path, n)
            if key in visited:
                continue
            visited.add(key)
            where = "%s.%s" % (p.name, n)
            p, f, expr = struct_def(p, n)
            fi = 0
            for fd in expr[1]:
                names = fd["names"]
                anonymous = names is None
                e = fd["type"]
                if anonymous:
                    base = e[1] if e[0] == "ptr" else e
                    gname = base[-1]
                    names = [gname]
                for gname in names:
                    idx = index + (fi,)
                    fi += 1
                    exported = gname[:1].isupper()
                    tag = json_tag(fd["tag"])
                    if tag == "-":
                        continue
                    tname, _, opts = (tag or "").partition(",")
                    if "inline" in opts.split(",") and not anonymous:
                        warn("%s.%s: `inline` on a named field (encoding/json ignores it)" % (where, gname))
                    if tname and not valid_tag(tname):
                        tname = ""
                    # the type with an unnamed pointer taken off, for the kind check
                    ft_expr = e[1] if e[0] == "ptr" else e
                    is_struct = False
                    target = None
                    if anonymous:
                        target = named_target(p, f, ft_expr)
                        if target is not None and target[0] is not TIME_PKG:
                            is_struct = struct_def(*target) is not None
                        if not exported and not is_struct:
                            continue
                    elif not exported:
                        continue
                    if tname or not anonymous or not is_struct:
                        ty = resolve(p, f, e, "%s.%s" % (where, gname))
                        if "string" in opts.split(","):
                            warn("%s.%s: `,string` option not recorded" % (where, gname))
                        omitempty = "omitempty" in opts.split(",")
                        fields.append((tname or gname, bool(tname), idx, ty, omitempty))
                        if count.get(key, 0) > 1:
                            fields.append(fields[-1])
                        continue
                    tp, tn = target
                    if is_custom(tp, tn):
                        raise KeyError("%s: flattens the custom type %s.%s" % (where, tp.name, tn))
                    tkey = (tp.path, tn)
                    next_count[tkey] = next_count.get(tkey, 0) + 1
                    if next_count[tkey] == 1:
                        nxt.append((tp, tn, idx))
    # dominance: shallowest first, then tagged
    by_name = collections.defaultdict(list)
    for fld in fields:
        by_name[fld[0]].append(fld)
    out = []
    for n in sorted(by_name):
        group = sorted(by_name[n], key=lambda x: (len(x[2]), not x[1], x[2]))
        if len(group) > 1 and len(group[0][2]) == len(group[1][2]) and group[0][1] == group[1][1]:
            warn("%s.%s: JSON name %r is ambiguous, dropped as encoding/json does" % (pkg.name, name, n))
            continue
        if len(group) > 1:
            warn("%s.%s: JSON name %r given by several fields; the shallowest wins" % (pkg.name, name, n))
        out.append((n, group[0][3], group[0][4]))
    return out


# ---------------------------------------------------------------- Rust output


def rust(ty):
    k = ty[0]
    if k in ("String", "Bool", "Bytes", "Interface"):
        return "T::" + k
    if k == "Int":
        return "T::Int(%d, %s)" % (ty[1], "true" if ty[2] else "false")
    if k == "Float":
        return "T::Float(%d)" % ty[1]
    if k in ("Pointer", "Slice"):
        return "T::%s(&%s)" % (k, rust(ty[1]))
    if k == "Map":
        return "T::Map(&%s, &%s)" % (rust(ty[1]), rust(ty[2]))
    if k == "Struct":
        return 'T::Struct("%s", "%s")' % (ty[1], ty[2])
    if k == "Named":
        return 'T::Named("%s", &%s)' % (ty[1], rust(ty[2]))
    if k == "Custom":
        return 'T::Custom("%s")' % ty[1]
    raise ValueError(ty)


def rust_str(s):
    assert '"' not in s and "\\" not in s, s
    return '"%s"' % s


def api_packages(root):
    """k8s.io/api's <group>/<version> packages (those with a register.go)."""
    out = []
    for g in root.dirs(""):
        if g in ("testdata", "hack", "roundtrip"):
            continue
        for v in root.dirs(g):
            if "register.go" in root.files(g + "/" + v):
                out.append("k8s.io/api/%s/%s" % (g, v))
    return out


def kinds_of(pkg):
    """[(group, version, kind, path, struct)] that pkg's register.go registers."""
    src = pkg.register
    if src is None:
        return []
    g = re.search(r'^const\s+GroupName\s*=\s*"([^"]*)"', src, re.M)
    v = re.search(r'SchemeGroupVersion\s*=\s*schema\.GroupVersion\{\s*Group:\s*GroupName,\s*Version:\s*"([^"]*)"', src)
    if not g:
        return []  # not an API group (pkg/runtime)
    if not v:
        warn("%s: no group version in register.go" % pkg.path)
        return []
    imports = dict(re.findall(r'^\s*(\w+)\s+"([^"]+)"', src, re.M))
    out = []
    for m in re.finditer(r"&(?:(\w+)\.)?(\w+)\{\}", src):
        alias, name = m.groups()
        p = pkg if alias is None else package(imports[alias])
        if (p.path, name) in SKIP_TYPES:
            continue
        if name not in p.types or struct_def(p, name) is None:
            warn("%s: registered type %s is not a struct here" % (pkg.path, name))
            continue
        out.append((g.group(1), v.group(1), name, p.path, name))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--api", required=True, help="k8s.io/api: DIR or GIT_DIR@REV")
    ap.add_argument("--apimachinery", required=True, help="k8s.io/apimachinery: DIR or GIT_DIR@REV")
    ap.add_argument("--apiextensions", required=True, help="k8s.io/apiextensions-apiserver: DIR or GIT_DIR@REV")
    ap.add_argument("--aggregator", required=True, help="k8s.io/kube-aggregator: DIR or GIT_DIR@REV")
    ap.add_argument("-o", "--output", help="the Rust file to write (default: stdout)")
    args = ap.parse_args()
    ROOTS["k8s.io/api"] = Root("k8s.io/api", args.api)
    ROOTS["k8s.io/apimachinery"] = Root("k8s.io/apimachinery", args.apimachinery)
    ROOTS["k8s.io/apiextensions-apiserver"] = Root("k8s.io/apiextensions-apiserver", args.apiextensions)
    ROOTS["k8s.io/kube-aggregator"] = Root("k8s.io/kube-aggregator", args.aggregator)

    targets = api_packages(ROOTS["k8s.io/api"]) + list(TYPE_FILES)
    wanted = []
    for path in targets:
        p = package(path)
        for n in p.order:
            alias, expr, f = p.types[n]
            if (path, n) in SKIP_TYPES:
                continue
            if not alias and n[:1].isupper() and struct_def(p, n) is not None:
                wanted.append((path, n))

    structs = {}
    failed = []
    todo = list(wanted)
    while todo:
        path, n = todo.pop()
        if (path, n) in structs:
            continue
        p = package(path)
        before = set(STRUCT_REFS)
        try:
            if is_custom(p, n):
                continue
            structs[(path, n)] = struct_fields(p, n)
        except KeyError as e:
            failed.append("%s.%s (%s): %s" % (p.name, n, path, e.args[0]))
            continue
        todo.extend(STRUCT_REFS - before)
    # a struct referring to one that failed is left in; report those references
    for (path, n), fields in structs.items():
        for _, ty, _ in fields:
            for ref in struct_refs(ty):
                if ref not in structs:
                    failed.append("%s.%s refers to %s.%s, which is not in the table" % (path, n, ref[0], ref[1]))

    kinds = []
    for path in targets:
        for k in kinds_of(package(path)):
            if (k[3], k[4]) in structs:
                kinds.append(k)
            else:
                warn("kind %s/%s %s: struct %s.%s not in the table" % k)
    kinds = sorted(set(kinds))

    for msg in failed:
        print("unresolved: " + msg, file=sys.stderr)

    out = []
    w = out.append
    w("//! Generated by scripts/gen-gotypes.py from")
    for r in ROOTS.values():
        w("//! %s," % r.label)
    w("//! the Go type of every JSON field of the built-in API structs, as encoding/json")
    w("//! (sigs.k8s.io/json) sees them, and the struct of every registered kind.")
    w("//! Do not edit.")
    w("")
    w("use super::{GoField, GoStruct, GoType as T};")
    w("")
    w("/// Every struct, sorted by (import path, name); each one's JSON fields sorted")
    w("/// by JSON name (embedded structs flattened as encoding/json does).")
    w("#[rustfmt::skip]")
    w("pub static STRUCTS: &[GoStruct] = &[")
    nfields = 0
    for (path, n) in sorted(structs):
        p = package(path)
        # gotypes_types.rs prints a Struct's package as its path's last element
        if p.name != path.rsplit("/", 1)[-1]:
            sys.exit("package %s is named %s, not its last path element" % (path, p.name))
        w("    GoStruct { path: %s, pkg: %s, name: %s, fields: &[" % (rust_str(path), rust_str(p.name), rust_str(n)))
        for js, ty, omitempty in structs[(path, n)]:
            w("        GoField { json: %s, ty: &%s, omitempty: %s }," % (rust_str(js), rust(ty), "true" if omitempty else "false"))
            nfields += 1
        w("    ] },")
    w("];")
    w("")
    w("/// Every kind a group version's register.go registers, sorted by")
    w("/// (group, version, kind): (group, version, kind, import path, struct).")
    w("#[rustfmt::skip]")
    w("pub static KINDS: &[(&str, &str, &str, &str, &str)] = &[")
    for k in kinds:
        w("    (%s)," % ", ".join(rust_str(x) for x in k))
    w("];")
    text = "\n".join(out) + "\n"
    if args.output:
        with open(args.output, "w") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    print("%d structs, %d fields, %d kinds, %d unresolved, %d warnings" %
          (len(structs), nfields, len(kinds), len(failed), len(WARNINGS)), file=sys.stderr)


def struct_refs(ty):
    if ty[0] == "Struct":
        yield (ty[1], ty[2])
    elif ty[0] in ("Pointer", "Slice"):
        yield from struct_refs(ty[1])
    elif ty[0] == "Map":
        yield from struct_refs(ty[1])
        yield from struct_refs(ty[2])
    elif ty[0] == "Named":
        yield from struct_refs(ty[2])


if __name__ == "__main__":
    main()
