"""A plain Flask app. Nothing here knows about Lambda: lwa turns events into HTTP requests."""

import struct
import zlib

from flask import Flask, Response, jsonify, request

app = Flask(__name__)


def _png(width: int, height: int) -> bytes:
    """A small RGB gradient as PNG bytes (stdlib only, so the example needs no Pillow)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    rows = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in (x * 255 // width, y * 255 // height, 128))
        for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


IMAGE = _png(32, 32)


@app.get("/")
def hello():
    return "Hello from Flask!\n"


@app.post("/echo")
def echo():
    return jsonify(request.get_json())


@app.get("/image.png")
def image():
    return Response(IMAGE, mimetype="image/png")


@app.get("/cookies")
def cookies():
    response = jsonify(cookies="set")
    response.set_cookie("session", "abc123", httponly=True)
    response.set_cookie("theme", "dark", path="/")
    return response
