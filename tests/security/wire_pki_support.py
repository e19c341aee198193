"""Certificates for the TLS attacks on the model client's transport, made with the
`openssl` command: a test CA, leaves it signs (valid, expired since 2020, for another
name), self-signed ones, and the server context a `RawServer` wraps connections with.
"""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@dataclass
class Pki:
    """A test CA and the leaves it signs, in `directory` (EC keys: quick to make)."""

    directory: Path
    ca: Path = field(init=False)
    ca_key: Path = field(init=False)
    _serial: int = 1

    def __post_init__(self) -> None:
        d = self.directory
        self.ca, self.ca_key = d / "ca.pem", d / "ca.key"
        _openssl(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-days", "2", "-subj", "/CN=wire attack test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout", str(self.ca_key), "-out", str(self.ca), cwd=d,
        )  # fmt: skip

    def leaf(self, name: str, *, names: Sequence[str] = ("localhost",), ips: Sequence[str] = ("127.0.0.1",),
             expired: bool = False, self_signed: bool = False) -> tuple[Path, Path]:  # fmt: skip
        """A server certificate (and key) for `names`/`ips`: signed by the CA, or by itself,
        valid for two days or expired since 2020."""
        d = self.directory
        key, csr, cert = d / f"{name}.key", d / f"{name}.csr", d / f"{name}.pem"
        if cert.exists():  # made already (a module-wide CA serves parametrised tests)
            return cert, key
        self._serial += 1
        alt = ",".join([*(f"DNS:{n}" for n in names), *(f"IP:{i}" for i in ips)])
        ext = d / f"{name}.ext"
        ext.write_text(f"[x]\nsubjectAltName={alt}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
        subj = f"/CN={names[0] if names else ips[0]}"
        if self_signed:
            _openssl(
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-days", "2", "-subj", subj, "-addext", f"subjectAltName={alt}",
                "-keyout", str(key), "-out", str(cert), cwd=d,
            )  # fmt: skip
            return cert, key
        _openssl(
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-subj", subj, "-keyout", str(key), "-out", str(csr), cwd=d,
        )  # fmt: skip
        if not expired:
            _openssl(
                "x509", "-req", "-in", str(csr), "-CA", str(self.ca), "-CAkey", str(self.ca_key),
                "-set_serial", str(self._serial), "-days", "2", "-extfile", str(ext), "-extensions", "x",
                "-out", str(cert), cwd=d,
            )  # fmt: skip
            return cert, key
        db = d / f"{name}-db"
        db.mkdir()
        (db / "index.txt").write_text("")
        (db / "serial").write_text(f"{self._serial:04x}\n")
        conf = d / f"{name}-ca.cnf"
        conf.write_text(
            f"[ca]\ndefault_ca=d\n[d]\ndatabase={db}/index.txt\nnew_certs_dir={db}\nserial={db}/serial\n"
            "default_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n"
        )
        _openssl(
            "ca", "-batch", "-config", str(conf), "-cert", str(self.ca), "-keyfile", str(self.ca_key),
            "-startdate", "20200101000000Z", "-enddate", "20200102000000Z", "-notext",
            "-extfile", str(ext), "-extensions", "x", "-in", str(csr), "-out", str(cert), cwd=d,
        )  # fmt: skip
        return cert, key

    def client_context(self) -> ssl.SSLContext:
        """What the model client builds with `SSL_CERT_FILE` naming this CA."""
        return ssl.create_default_context(cafile=str(self.ca))


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx
