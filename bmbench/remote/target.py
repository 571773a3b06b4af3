"""The `ssh:` block of a host profile: where and how bmbench reaches a board, validated with the
hosts file's line-numbered errors."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from .. import yamlfile

DEFAULT_WORKDIR = "~/.cache/bmbench-remote"
# key -> (types, default); `host` is the only required key
KEYS = {
    "host": (str, None),
    "user": (str, None),
    "port": (int, 22),
    "key": (str, None),
    "python": (str, "python3"),
    "workdir": (str, DEFAULT_WORKDIR),
    "known_hosts": (str, None),
    "system_site_packages": (bool, False),
    "env": (dict, None),
}


@dataclass(frozen=True)
class SshTarget:
    host: str
    user: str | None = None          # None: the local user name (asyncssh's default)
    port: int = 22
    key: str | None = None           # private key path (~ expanded); None: the default keys / agent
    python: str = "python3"          # the remote interpreter the venv is made from
    workdir: str = DEFAULT_WORKDIR   # remote; ~ is the remote home
    known_hosts: str | None = None   # None: ~/.ssh/known_hosts; "none": no host key check (explicit)
    system_site_packages: bool = False
    env: dict[str, str] = field(default_factory=dict)

    @property
    def checks_host_key(self) -> bool:
        return self.known_hosts != "none"

    def label(self, user: str | None = None) -> str:
        """`user@host:port` as the run document's `via` records it."""
        u = user or self.user
        return f"{u + '@' if u else ''}{self.host}:{self.port}"

    def asyncssh_options(self) -> dict:
        """Connection options for asyncssh.connect (key auth only, host keys as configured)."""
        opts: dict = dict(port=self.port, known_hosts=() if self.known_hosts is None else
                          None if self.known_hosts == "none" else self.known_hosts)
        if self.user:
            opts["username"] = self.user
        if self.key:
            opts["client_keys"] = [self.key]
        return opts


def of(profile) -> SshTarget | None:
    """A host profile's ssh: block (hosts.HostProfile.ssh) parsed; None where it has none."""
    b = profile.ssh
    return None if b is None else parse(b.doc, b.where, b.value)


def parse(doc: yamlfile.YamlDoc, where: tuple, value) -> SshTarget:
    """The block at `where` (e.g. ("hosts", "raspberry-pi-5", "ssh")) as an SshTarget."""
    yamlfile.expect(doc, where, value, dict, "a mapping {host, user, port, key, python, workdir, "
                                              "known_hosts, system_site_packages, env}")
    for k in value:
        if k not in KEYS:
            raise doc.error(where + (k,), f"unknown key (known: {', '.join(KEYS)})")
    if "host" not in value:
        raise doc.error(where, "missing required key 'host'")
    out = {}
    for k, (types, _default) in KEYS.items():
        if k not in value:
            continue
        v = yamlfile.expect(doc, where + (k,), value[k], types)
        if isinstance(v, str) and not v.strip():
            raise doc.error(where + (k,), "expected a non-empty string")
        out[k] = v
    if "port" in out and not 1 <= out["port"] <= 65535:
        raise doc.error(where + ("port",), f"expected a port number 1-65535, got {out['port']}")
    env = out.get("env") or {}
    for name, v in env.items():
        if not isinstance(name, str) or not name.replace("_", "a").isalnum() or name[0].isdigit():
            raise doc.error(where + ("env", name), f"not an environment variable name: {name!r}")
        if not isinstance(v, (str, int, float)) or isinstance(v, bool):
            raise doc.error(where + ("env", name), f"expected a string, got {type(v).__name__} {v!r}")
    out["env"] = {name: str(v) for name, v in env.items()}
    for k in ("key", "known_hosts"):  # local paths; "none" is the explicit opt-out of host key checks
        if k in out and not (k == "known_hosts" and out[k] == "none"):
            out[k] = os.path.expanduser(out[k])
    return SshTarget(**out)
