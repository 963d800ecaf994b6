#!/usr/bin/python3
"""Write fuzz_config's seed corpus and dictionary from the repository.

Seeds (tests/fuzz/corpus_config/): the example configuration, the benchmark
profiles' YAML, every YAML snippet the Python tests write (string literals
with a "key:" line; f-strings contribute their literal parts with each
{placeholder} as 8080), and a few made here for the parts the tests reach
with real files (TLS listeners and SNI on fuzz_config's in-memory
certificate, a password file). Regression seeds (regress-*) are kept.

Dictionary (tests/fuzz/fuzz_config.dict): every key of config_keys.c's
table, every key the section parsers of config_file.c compare against,
the file names fuzz_config serves, and YAML's own tokens.

Run again after changing the key table or the tests: ./tests/fuzz/make_config_seeds.py
"""
import ast
import hashlib
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
CORPUS = os.path.join(HERE, "corpus_config")
DICT = os.path.join(HERE, "fuzz_config.dict")
KEY_LINE = re.compile(r"^\s*(- )?[a-z][a-z0-9-]*:( |$)", re.M)

MADE = {
    "tls_sni": """listen:
  - address: 127.0.0.1
    port: 8443
    tls: true
    certificate: cert.pem
    key: key.pem
    sni:
      - {names: [api.example.com, "*.cdn.example.com"], certificate: cert.pem, key: key.pem}
  - {address: 127.0.0.1, port: 8081, redirect-https: 8443}
""",
    "tls_missing_cert": """listen:
  - {port: 8443, tls: true, certificate: /etc/vex/site.pem, key: key.pem}
""",
    "auth_basic": """auth:
  realm: fuzz
  password-file: users.htpasswd
  tokens:
    - {name: ci, sha256: 2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b}
  cache-size: 16
  cache-ttl: 60
  failure-limit: 5
  failure-window: 60
access:
  - path: /admin
    auth: any
    users: [alice, ci]
    methods: [GET, POST]
    rules: [allow 127.0.0.0/8, deny all]
""",
    "limits_all_keys": """limits:
  - name: api
    path: /api
    prefix: true
    rate: 10r/s
    burst: 20
    delay: 5
    status: 503
    dry-run: false
    ipv4-prefix: 24
    ipv6-prefix: 48
    zone-size: 64k
  - {name: conn, rate: 30r/m, requests: false, nodelay: true, burst: 3}
trusted-proxies: [10.0.0.0/8, "::1", 192.168.1.1]
""",
    "listen_and_port": "listen: [8080]\nport: 8081\n",
    "yaml_anchor_alias": "a: &x {b: *x}\n",
    "bad_utf8": "threads: 2\nroutes:\n  - path: /\xff\xfe\n",
}


def literal_yaml(node):
    """The YAML text of a string literal or f-string, or None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value
    elif isinstance(node, ast.JoinedStr):
        parts = []
        for v in node.values:
            if isinstance(v, ast.Constant):
                parts.append(v.value)
            else:
                parts.append("8080")
        text = "".join(parts)
    else:
        return None
    return text if "\n" in text and KEY_LINE.search(text) else None


def test_snippets():
    d = os.path.join(REPO, "tests", "python", "server")
    for name in sorted(os.listdir(d)):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(d, name)) as f:
            tree = ast.parse(f.read())
        seen = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):
                for v in node.values:
                    seen.add(id(v))
            if id(node) in seen:
                continue
            text = literal_yaml(node)
            if text:
                yield name[:-3], text


def keys():
    with open(os.path.join(REPO, "src", "server", "config_keys.c")) as f:
        table = re.findall(r'^\s*\{"([a-z0-9-]+)", K_', f.read(), re.M)
    with open(os.path.join(REPO, "src", "server", "config_file.c")) as f:
        src = f.read()
    sections = re.findall(r'strcmp\(k, "([a-z0-9-]+)"\)', src)
    sections += re.findall(r'"([a-z]+)"(?=[,}])', re.search(r"kinds\[\] = \{([^}]*)\}", src).group(1) + ",")
    return sorted(set(table) | set(sections))


def dict_escape(w):
    """libFuzzer's dictionary syntax: backslash, quote and hex escapes only."""
    return "".join("\\" + c if c in '\\"' else c if 0x20 <= ord(c) < 0x7f else "\\x%02X" % ord(c)
                   for c in w)


def main():
    os.makedirs(CORPUS, exist_ok=True)
    for f in os.listdir(CORPUS):
        if not f.startswith("regress-"):
            os.unlink(os.path.join(CORPUS, f))
    seeds = {}
    for rel in ("conf/production_server.yaml", "bench/profiles/ratelimit.yaml"):
        with open(os.path.join(REPO, rel), "rb") as f:
            seeds[os.path.basename(rel).replace(".yaml", "")] = f.read()
    for name, text in MADE.items():
        seeds[name] = text.encode("utf-8", "surrogateescape") if name != "bad_utf8" \
            else text.encode("latin-1")
    digests = {hashlib.sha1(v).digest() for v in seeds.values()}
    for test, text in test_snippets():
        data = text.encode()
        h = hashlib.sha1(data)
        if h.digest() in digests:
            continue
        digests.add(h.digest())
        seeds[f"{test}_{h.hexdigest()[:8]}"] = data
    for name, data in seeds.items():
        with open(os.path.join(CORPUS, name), "wb") as f:
            f.write(data)
    words = keys() + ["cert.pem", "key.pem", "users.htpasswd", "stderr", "syslog", "off",
                      "true", "false", "10r/s", "30r/m", "64k", "16m", "127.0.0.1", "::1",
                      "0.0.0.0", "10.0.0.0/8", "allow all", "deny all", "GET", "POST"]
    yaml_tokens = [": ", "- ", "\n  ", "\n  - ", "{", "}", "[", "]", ", ", "&a ", "*a", "!!str ",
                   "? ", "|\n", ">\n", "---\n", "...\n", "%YAML 1.1\n", "#", "\"", "'", "<<: "]
    with open(DICT, "w") as f:
        f.write("# fuzz_config: written by make_config_seeds.py (config keys, section keys, YAML)\n")
        for w in words + yaml_tokens:
            f.write('"%s"\n' % dict_escape(w))
    print(f"{len(seeds)} seeds in {os.path.relpath(CORPUS, REPO)}, "
          f"{len(words) + len(yaml_tokens)} dictionary entries")


if __name__ == "__main__":
    main()
