"""Where secret values come from: ``AGENTCTL_SECRET_<NAME>``, else a Prefect Secret block — and the
hosts each secret may be sent to.

Prefect block names are lowercase with dashes, so ``{{ secrets.PORTAL_PASSWORD }}`` reads the block
``portal-password``. Values are looked up once, when a run starts, and live only in memory.

**Host bindings.** ``AGENTCTL_SECRET_<NAME>_HOSTS=api.example.com,127.0.0.1`` (else a Prefect Secret
block ``<name>-hosts`` holding the same comma-separated text, or a JSON list) binds the secret to
those hosts: an ``http`` action whose request (URL, query, headers, body) carries it to any other
host is refused before anything is sent. An entry is a host name or IP (any port), ``host:port``
(that port only) or ``*.example.com`` (any subdomain of example.com, not example.com itself). A
secret with no binding may go anywhere; the run says so in one warning line when it starts. Names
ending in ``_HOSTS`` are therefore the bindings of the secret without that suffix.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tasks.masking import SecretMasker

__all__ = [
    "HostBinding",
    "block_name",
    "env_name",
    "env_secret_hosts",
    "hosts_block_name",
    "hosts_env_name",
    "parse_hosts",
    "resolve_secret_hosts",
    "resolve_secrets",
    "secrets_in",
    "url_host",
]


def env_name(name: str) -> str:
    return f"AGENTCTL_SECRET_{name.upper()}"


def block_name(name: str) -> str:
    return name.lower().replace("_", "-")


def hosts_env_name(name: str) -> str:
    """``AGENTCTL_SECRET_<NAME>_HOSTS``: the hosts the secret may be sent to."""
    return f"{env_name(name)}_HOSTS"


def hosts_block_name(name: str) -> str:
    """``<name>-hosts``: the Prefect Secret block holding the hosts the secret may be sent to."""
    return f"{block_name(name)}-hosts"


async def resolve_secrets(
    names: Iterable[str], *, use_prefect_blocks: bool = True
) -> tuple[dict[str, str], list[str]]:
    """The values of ``names`` that can be found, and the names that cannot."""
    found: dict[str, str] = {}
    missing: list[str] = []
    for name in sorted(set(names)):
        value = os.environ.get(env_name(name))
        if value is None and use_prefect_blocks:
            value = await _from_prefect_block(block_name(name))
        if value is None:
            missing.append(name)
        else:
            found[name] = value
    return found, missing


async def _from_prefect_block(name: str) -> str | None:
    from prefect.blocks.system import Secret
    from prefect.exceptions import ObjectNotFound

    try:
        block: Secret[str] = await Secret.aload(name)
    except (ValueError, ObjectNotFound):
        return None
    value: object = block.get()  # a block may hold JSON (a list of hosts), whatever its type says
    if isinstance(value, list):
        return ",".join(map(str, value))
    return value if isinstance(value, str) else str(value)


# --------------------------------------------------------------------------- host bindings


@dataclass(frozen=True)
class HostBinding:
    """The hosts one secret may be sent to, and where that list was read (for error messages)."""

    name: str
    hosts: tuple[str, ...]
    source: str

    def allows(self, url: str) -> bool:
        """Whether a request to ``url`` may carry the secret."""
        target = _split_host(url)
        if target is None:
            return False
        host, port = target
        for entry in self.hosts:
            allowed = _split_entry(entry)
            if allowed is None:
                continue
            allowed_host, allowed_port = allowed
            if allowed_port is not None and allowed_port != port:
                continue
            if allowed_host.startswith("*."):
                if host.endswith(allowed_host[1:]) and host != allowed_host[2:]:
                    return True
            elif host == allowed_host:
                return True
        return False

    def refusal(self, url: str) -> str:
        """Why a request to ``url`` may not carry the secret (names the secret, never its value)."""
        return (
            f"{{{{ secrets.{self.name} }}}} may only be sent to {', '.join(self.hosts) or 'no host'} "
            f"({self.source}); this request goes to {url_host(url) or 'an URL without a host'}"
        )


def parse_hosts(text: str) -> tuple[str, ...]:
    """``"api.example.com, 127.0.0.1"`` (or a JSON list) → the entries, lowercased, empty ones dropped."""
    text = text.strip()
    items: list[str] = text.split(",")
    if text.startswith("["):  # a JSON list, or an IPv6 literal such as [::1]
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            items = [str(item) for item in parsed]
    return tuple(item.strip().strip("\"'").lower() for item in items if item.strip().strip("\"'"))


async def resolve_secret_hosts(
    names: Iterable[str], *, use_prefect_blocks: bool = True
) -> dict[str, HostBinding]:
    """The host bindings of those of ``names`` that have one (env first, then Prefect blocks)."""
    bindings: dict[str, HostBinding] = {}
    for name in sorted(set(names)):
        value = os.environ.get(hosts_env_name(name))
        source = hosts_env_name(name)
        if value is None and use_prefect_blocks:
            value = await _from_prefect_block(hosts_block_name(name))
            source = f"Prefect Secret block {hosts_block_name(name)!r}"
        if value is not None:
            bindings[name] = HostBinding(name, parse_hosts(value), source)
    return bindings


def env_secret_hosts(names: Iterable[str]) -> dict[str, HostBinding]:
    """The bindings set in the environment only: what a preflight can know without Prefect."""
    return {
        name: HostBinding(name, parse_hosts(os.environ[hosts_env_name(name)]), hosts_env_name(name))
        for name in sorted(set(names))
        if hosts_env_name(name) in os.environ
    }


def secrets_in(value: object, secrets: Mapping[str, str]) -> set[str]:
    """The names of the secrets whose value (raw, JSON-, URL- or HTML-encoded) shows in ``value``'s
    strings (dict keys included): catches a secret that reached a request through a var."""
    texts = list(_strings(value))
    found: set[str] = set()
    for name, secret in secrets.items():
        forms = SecretMasker([secret]).forms
        if any(form in text for form in forms for text in texts):
            found.add(name)
    return found


def _strings(value: object) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def url_host(url: str) -> str | None:
    """``host`` or ``host:port`` as the URL names it (lowercased), or None without a host."""
    target = _split_host(url)
    if target is None:
        return None
    host, port = target
    shown = f"[{host}]" if ":" in host else host
    return shown if port is None else f"{shown}:{port}"


def _split_host(url: str) -> tuple[str, int | None] | None:
    try:
        parts = urllib.parse.urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    return host.rstrip(".").lower(), port


def _split_entry(entry: str) -> tuple[str, int | None] | None:
    if entry.count(":") > 1 and not entry.startswith("["):
        entry = f"[{entry}]"  # a bare IPv6 address
    if entry.startswith("*."):
        rest = _split_host(f"//x{entry[1:]}")
        return (f"*.{rest[0][2:]}", rest[1]) if rest else None
    return _split_host(f"//{entry}")
