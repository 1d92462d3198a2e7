"""A conformance client that talks to a server exactly as ODK Collect does.

What it copies from Collect (``OkHttpConnection``, ``InstanceServerUploader``,
``OkHttpOpenRosaServerClientProvider``): every request carries ``User-Agent``,
``X-OpenRosa-Version: 1.0`` and ``Date``; credentials are sent only after a ``401``
challenge (Digest; Basic only when asked to, as Collect does over HTTPS) and then reused;
the form list, forms and manifests must come as ``text/xml`` and say
``X-OpenRosa-Version``; the form's MD5 is checked against the list's hash. A submission
starts with ``HEAD /submission?deviceID=…`` and reads ``X-OpenRosa-Accept-Content-Length``
from its 204 (10,000,000 when absent), then posts ``multipart/form-data``: the XML first as
part ``xml_submission_file`` (file name, ``text/xml``), then each attachment as a part named
by its file name; when the next attachment would take the body past the accepted length (or
past 100 attachments), the part so far is sent with a field ``*isIncomplete*`` = ``yes`` and
the next part repeats the XML. It stops at the first answer that is not 201 or 202.
"""

from __future__ import annotations

import copy
import hashlib
import uuid
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree as ET  # noqa: S405 - to build and write; parsing is defusedxml's

import requests
from defusedxml.ElementTree import ParseError, fromstring
from requests.auth import HTTPBasicAuth, HTTPDigestAuth

__all__ = ["CollectClient", "Part", "fill_instance", "DEFAULT_ACCEPT_LENGTH"]

DEFAULT_ACCEPT_LENGTH = 10_000_000
USER_AGENT = "org.odk.collect.android/v2024.3.4 (conformance test) okhttp/4.12"
_CONTENT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
                  ".csv": "text/csv", ".xml": "text/xml"}


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


@dataclass
class Part:
    """One POST of a submission and the server's answer."""

    status: int
    message: str
    names: list[str] = field(default_factory=list)  # the attachments it carried
    incomplete: bool = False


class CollectClient:
    """ODK Collect's HTTP behaviour against ``<server>/openrosa``."""

    def __init__(self, server_url: str, username: str, password: str, *,
                 scheme: str = "digest") -> None:
        self.base = server_url.rstrip("/")
        self.session = requests.Session()
        self.session.auth = (HTTPDigestAuth(username, password) if scheme == "digest"
                             else _ChallengedBasic(username, password))
        self.device_id = f"collect:{uuid.uuid4().hex[:16]}"
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status), in order

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        headers = {"User-Agent": USER_AGENT, "X-OpenRosa-Version": "1.0",
                   "Date": formatdate(usegmt=True), **kwargs.pop("headers", {})}
        response = self.session.request(method, url, headers=headers, timeout=30, **kwargs)
        for hop in [*response.history, response]:
            self.requests.append((hop.request.method or "", hop.request.path_url,
                                  hop.status_code))
        return response

    def _xml(self, url: str) -> tuple[bytes, ET.Element]:
        response = self._send("GET", url)
        assert response.status_code == 200, (url, response.status_code, response.text)
        assert "text/xml" in response.headers["Content-Type"], response.headers
        assert response.headers["X-OpenRosa-Version"] == "1.0"
        return response.content, fromstring(response.content)

    def form_list(self) -> list[dict[str, str]]:
        """``GET formList``: each form's formID, name, version, hash and URLs."""
        _body, root = self._xml(f"{self.base}/formList")
        return [{_local(c.tag): (c.text or "") for c in form} for form in root]

    def download(self, item: dict[str, str]) -> tuple[bytes, dict[str, bytes]]:
        """The form (its MD5 checked as Collect checks it) and its media files."""
        form, _root = self._xml(item["downloadUrl"])
        assert item["hash"] == "md5:" + hashlib.md5(form).hexdigest()  # noqa: S324
        media: dict[str, bytes] = {}
        if item.get("manifestUrl"):
            _body, manifest = self._xml(item["manifestUrl"])
            for entry in manifest:
                values = {_local(c.tag): (c.text or "") for c in entry}
                response = self._send("GET", values["downloadUrl"])
                assert response.status_code == 200, response.text
                digest = "md5:" + hashlib.md5(response.content).hexdigest()  # noqa: S324
                assert values["hash"] == digest, values["filename"]
                media[values["filename"]] = response.content
        return form, media

    def probe(self) -> requests.Response:
        """``HEAD /submission`` as Collect sends it before every submission."""
        return self._send("HEAD", self._submission_url())

    def _submission_url(self) -> str:
        return f"{self.base}/submission?deviceID={quote(self.device_id, safe='')}"

    def submit(self, xml: bytes, xml_name: str,
               files: list[tuple[str, bytes]] = ()) -> list[Part]:  # type: ignore[assignment]
        """Send one instance as Collect does: HEAD, then one or more multipart POSTs."""
        head = self.probe()
        if head.status_code != 204:
            return [Part(head.status_code, _message(head.content))]
        limit = int(head.headers.get("X-OpenRosa-Accept-Content-Length")
                    or DEFAULT_ACCEPT_LENGTH)
        parts: list[Part] = []
        index, first = 0, True
        while index < len(files) or first:
            first, start = False, index
            body: list[tuple[str, str, str, bytes]] = [
                ("xml_submission_file", xml_name, "text/xml", xml)]
            count = len(xml)
            incomplete = False
            while index < len(files):
                name, data = files[index]
                body.append((name, name, _content_type(name), data))
                count += len(data)
                if index + 1 < len(files) and (
                        index - start + 1 > 100 or count + len(files[index + 1][1]) > limit):
                    incomplete = True
                    index += 1
                    break
                index += 1
            response = self._post(body, incomplete)
            parts.append(Part(response.status_code, _message(response.content),
                              [b[0] for b in body[1:]], incomplete))
            if response.status_code not in (201, 202):
                break
        return parts

    def _post(self, body: list[tuple[str, str, str, bytes]],
              incomplete: bool) -> requests.Response:
        boundary = str(uuid.uuid4())
        chunks: list[bytes] = []
        for name, filename, content_type, data in body:
            chunks.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{filename}"\r\nContent-Type: {content_type}\r\n'
                f"Content-Length: {len(data)}\r\n\r\n".encode() + data + b"\r\n")
        if incomplete:
            chunks.append(f'--{boundary}\r\nContent-Disposition: form-data; '
                          f'name="*isIncomplete*"\r\nContent-Length: 3\r\n\r\nyes\r\n'.encode())
        chunks.append(f"--{boundary}--\r\n".encode())
        return self._send("POST", self._submission_url(), data=b"".join(chunks), headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}"})


class _ChallengedBasic(HTTPBasicAuth):
    """Basic as okhttp sends it: only after a 401 that offers it, then on every request."""

    def __init__(self, username: str, password: str) -> None:
        super().__init__(username, password)
        self.challenged = False

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.challenged:
            return super().__call__(r)
        r.register_hook("response", self._retry)
        return r

    def _retry(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        offered = response.headers.get("WWW-Authenticate", "").lower()
        if response.status_code != 401 or self.challenged or "basic" not in offered:
            return response
        self.challenged = True
        response.content  # noqa: B018 - drain, so the connection can be reused
        response.close()
        again = super().__call__(response.request.copy())
        sent = response.connection.send(again, **kwargs)
        sent.history.append(response)
        sent.request = again
        return sent


def _content_type(name: str) -> str:
    suffix = name[name.rfind("."):].lower() if "." in name else ""
    return _CONTENT_TYPES.get(suffix, "application/octet-stream")


def _message(body: bytes) -> str:
    try:
        root = fromstring(body)
    except ParseError:
        return ""
    return "".join(node.text or "" for node in root.iter() if _local(node.tag) == "message")


def fill_instance(form_xml: bytes, answers: dict[str, Any], instance_id: str) -> bytes:
    """The instance Collect saves for ``answers``: the form's primary instance, filled in.

    ``answers`` maps a field name to its text, or a repeat's name to a list of dicts (one
    per repetition). ``meta/instanceID`` is set to ``uuid:<instance_id>``.
    """
    root = fromstring(form_xml)
    model = next(n for n in root.iter() if _local(n.tag) == "model")
    primary = next(n for n in model if _local(n.tag) == "instance")
    data = copy.deepcopy(next(iter(primary)))
    _strip_namespace(data)
    for node in list(data):
        name = node.tag
        if name in answers and isinstance(answers[name], list):
            continue
        if node.get("{http://openrosa.org/javarosa}template") is not None:
            continue
        if name == "meta":
            node.find("instanceID").text = f"uuid:{instance_id}"  # type: ignore[union-attr]
        elif name in answers:
            node.text = str(answers[name])
    for name, rows in answers.items():
        if not isinstance(rows, list):
            continue
        template = next(n for n in data if n.tag == name)
        position = list(data).index(template)
        for n in [n for n in data if n.tag == name]:
            data.remove(n)
        for offset, row in enumerate(rows):
            copy_ = copy.deepcopy(template)
            copy_.attrib.pop("{http://openrosa.org/javarosa}template", None)
            for child in copy_:
                child.text = str(row[child.tag]) if child.tag in row else None
            data.insert(position + offset, copy_)
    for node in list(data):  # the empty repetition pyxform puts after each template
        if node.get("{http://openrosa.org/javarosa}template") is not None:
            data.remove(node)
    return b"<?xml version='1.0' ?>" + ET.tostring(data, encoding="utf-8")


def _strip_namespace(node: ET.Element) -> None:
    for element in node.iter():
        element.tag = _local(element.tag)
