"""Seeded mutators: bytes, text tokens, .npy headers, PNG, JPEG and TIFF structure.

Every mutator takes a random.Random and returns (new content, description). The description
says what was done, so that a failing mutant's report can be read without a hex editor.
"""
from __future__ import annotations

import random
import re
import struct
import zlib

# Values that sit on the edges of integer types, sizes and counts.
INTERESTING_INTS = [0, 1, 2, 3, 7, 8, 15, 16, 31, 32, 63, 64, 127, 128, 255, 256, 1023, 1024,
                    4095, 4096, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 40000, 100000, 0x7FFFFFFF,
                    0x80000000, 0xFFFFFFFF, 0x100000000, 2**53, 2**62, 2**63 - 1, 2**63, 2**64 - 1]
INTERESTING_NUMBER_TEXT = ["0", "-0", "1", "-1", "2", "255", "256", "65535", "65536", "2147483647",
                           "2147483648", "-2147483649", "4294967296", "9223372036854775807",
                           "9223372036854775808", "18446744073709551615", "18446744073709551616",
                           "4611686018427387904", "1e9", "1e18", "1e30", "1e308", "1e309", "-1e309",
                           "1e-320", "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "0x10", "1.5",
                           "1,5", "+1", "--1", "1e", ".", "", " ", "00000000000000000000000001"]
INTERESTING_STRINGS = ["", " ", "\t", "..", ".", "/", "a/b", "../x", "~", "null", "None", "true",
                       "&a", "*a", "!!binary AAAA", "[", "]", "{", "}", "[]", "{}", "'", '"', "\\",
                       "#", "%", ",", ":", "- ", "|", ">", "@", "ü", "\u202e", "\x00", "\x7f",
                       "x" * 300, "y" * 70000, "a,b", "a\nb", "-o", "--help"]


def pick(rng: random.Random, items):
    return items[rng.randrange(len(items))]


# ---------------------------------------------------------------------------------- bytes

def _offset(rng: random.Random, size: int, hot: list[int] | None) -> int:
    """A random offset; half the time near a 'hot' offset (a structure header), if any."""
    if size <= 0:
        return 0
    if hot and rng.random() < 0.6:
        base = pick(rng, hot)
        return max(0, min(size - 1, base + rng.randrange(-8, 48)))
    return rng.randrange(size)


def mutate_bytes(data: bytes, rng: random.Random, hot: list[int] | None = None,
                 max_ops: int = 4) -> tuple[bytes, str]:
    """Havoc-style: 1..max_ops stacked byte-level edits."""
    buf = bytearray(data)
    done = []
    for _ in range(rng.randint(1, max_ops)):
        op = rng.randrange(11)
        n = len(buf)
        if n == 0:
            buf += bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
            done.append("filled an empty file")
            continue
        at = _offset(rng, n, hot)
        if op == 0:
            bit = rng.randrange(8)
            buf[at] ^= 1 << bit
            done.append(f"flip bit {bit} at {at}")
        elif op == 1:
            val = rng.randrange(256)
            buf[at] = val
            done.append(f"byte {at} = {val:#x}")
        elif op in (2, 3):
            width = pick(rng, [1, 2, 4, 8])
            val = pick(rng, INTERESTING_INTS) & ((1 << (8 * width)) - 1)
            if rng.random() < 0.3:
                val = ((1 << (8 * width)) - val) & ((1 << (8 * width)) - 1)  # negative
            order = "<" if rng.random() < 0.75 else ">"
            packed = val.to_bytes(width, "little" if order == "<" else "big")
            buf[at:at + width] = packed
            done.append(f"{width}-byte {'LE' if order == '<' else 'BE'} {val:#x} at {at}")
        elif op == 4:
            cut = rng.randrange(n)
            del buf[cut:]
            done.append(f"truncated to {cut} bytes")
        elif op == 5:
            length = min(n - at, rng.randint(1, 64))
            del buf[at:at + length]
            done.append(f"deleted {length} bytes at {at}")
        elif op == 6:
            junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 32)))
            buf[at:at] = junk
            done.append(f"inserted {len(junk)} random bytes at {at}")
        elif op == 7:
            src = rng.randrange(n)
            length = min(n - src, rng.randint(1, 256))
            buf[at:at] = buf[src:src + length]
            done.append(f"duplicated {length} bytes from {src} at {at}")
        elif op == 8:
            src = rng.randrange(n)
            length = min(n - src, n - at, rng.randint(1, 64))
            buf[at:at + length] = buf[src:src + length]
            done.append(f"copied {length} bytes from {src} over {at}")
        elif op == 9:
            length = min(n - at, rng.randint(1, 64))
            fill = pick(rng, [0x00, 0xFF])
            buf[at:at + length] = bytes([fill]) * length
            done.append(f"{length} bytes of {fill:#x} at {at}")
        else:
            junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4096)))
            buf += junk
            done.append(f"appended {len(junk)} bytes")
    return bytes(buf), "; ".join(done)


def find_all(data: bytes, needles: list[bytes]) -> list[int]:
    hot = []
    for needle in needles:
        for m in re.finditer(re.escape(needle), data):
            hot.append(m.start())
    return sorted(hot)


HDF5_SIGNATURES = [b"\x89HDF", b"OHDR", b"OCHK", b"TREE", b"HEAP", b"SNOD", b"GCOL", b"FRHP",
                   b"FHDB", b"FHIB", b"BTHD", b"BTIN", b"BTLF", b"FSHD", b"FSSE", b"EAHD", b"EADB",
                   b"FAHD", b"FADB"]


def hdf5_hot_offsets(data: bytes) -> list[int]:
    """Offsets of HDF5's structures (superblock, object headers, B-trees, heaps)."""
    return [0, 8, 16, 24, 32, 40, 48] + find_all(data, HDF5_SIGNATURES)


# ---------------------------------------------------------------------------------- text

_TOKEN = re.compile(r"[A-Za-z0-9_.+\-]+|\s+|.", re.S)


def mutate_text(text: str, rng: random.Random, extra_values: list[str] | None = None,
                max_ops: int = 3) -> tuple[str, str]:
    """Token- and line-level edits for CSV, YAML and line lists."""
    done = []
    values = INTERESTING_NUMBER_TEXT + INTERESTING_STRINGS + (extra_values or [])
    for _ in range(rng.randint(1, max_ops)):
        lines = text.split("\n")
        op = rng.randrange(14)
        if op <= 3:  # replace one word token
            toks = _TOKEN.findall(text)
            words = [i for i, t in enumerate(toks) if t.strip() and (t[0].isalnum() or t[0] in "_.-+")]
            if not words:
                continue
            i = pick(rng, words)
            new = pick(rng, values)
            done.append(f"token {toks[i][:30]!r} -> {new[:30]!r}")
            toks[i] = new
            text = "".join(toks)
        elif op == 4:  # replace a punctuation token (separator, quote, bracket)
            toks = _TOKEN.findall(text)
            punct = [i for i, t in enumerate(toks) if len(t) == 1 and not t.isalnum() and not t.isspace()]
            if not punct:
                continue
            i = pick(rng, punct)
            new = pick(rng, [",", ";", ":", "\"", "'", "[", "]", "{", "}", "-", "#", "\t", "", ",,", "\x00"])
            done.append(f"separator {toks[i]!r} -> {new!r}")
            toks[i] = new
            text = "".join(toks)
        elif op == 5:
            i = rng.randrange(len(lines))
            done.append(f"deleted line {i + 1}")
            del lines[i]
            text = "\n".join(lines)
        elif op == 6:
            i = rng.randrange(len(lines))
            done.append(f"duplicated line {i + 1}")
            lines.insert(i, lines[i])
            text = "\n".join(lines)
        elif op == 7:
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
            done.append(f"swapped lines {i + 1} and {j + 1}")
            text = "\n".join(lines)
        elif op == 8:
            cut = rng.randrange(len(text) + 1)
            done.append(f"truncated at character {cut}")
            text = text[:cut]
        elif op == 9:
            i = rng.randrange(len(lines) + 1)
            new = pick(rng, ["", " ", "\r", "\ufeff", "x" * 100000, ",", "\x00", "#", "[[[[", "---",
                             "..."])
            lines.insert(i, new)
            done.append(f"inserted line {new[:10]!r} at {i + 1}")
            text = "\n".join(lines)
        elif op == 10:
            text = text.replace("\n", "\r\n") if rng.random() < 0.5 else "\ufeff" + text
            done.append("CRLF line ends or a BOM")
        elif op == 11:  # cut or add a field on one line
            i = rng.randrange(len(lines))
            sep = "," if "," in lines[i] else (":" if ":" in lines[i] else " ")
            parts = lines[i].split(sep)
            if len(parts) > 1 and rng.random() < 0.5:
                del parts[rng.randrange(len(parts))]
                done.append(f"dropped a field on line {i + 1}")
            else:
                parts.insert(rng.randrange(len(parts) + 1), pick(rng, values))
                done.append(f"added a field on line {i + 1}")
            lines[i] = sep.join(parts)
            text = "\n".join(lines)
        elif op == 12:  # deep nesting (parsers that recurse)
            depth = pick(rng, [100, 10000, 100000])
            i = rng.randrange(len(lines) + 1)
            lines.insert(i, "[" * depth)
            done.append(f"{depth} nested brackets at line {i + 1}")
            text = "\n".join(lines)
        else:
            raw, what = mutate_bytes(text.encode("utf-8", "surrogatepass"), rng, max_ops=1)
            text = raw.decode("latin-1")
            done.append("bytes: " + what)
    return text, "; ".join(done) or "unchanged"


# ---------------------------------------------------------------------------------- npy

def npy_bytes(header: str, payload: bytes, version: int = 1) -> bytes:
    """A .npy file from a header dictionary text (padded as NumPy does) and a payload."""
    prefix = 10 if version == 1 else 12
    h = header + " " * ((64 - (prefix + len(header) + 1) % 64) % 64) + "\n"
    length = struct.pack("<H", len(h)) if version == 1 else struct.pack("<I", len(h))
    return b"\x93NUMPY" + bytes([version, 0]) + length + h.encode("latin-1") + payload


def split_npy(data: bytes) -> tuple[int, str, bytes]:
    version = data[6]
    if version == 1:
        (hl,) = struct.unpack("<H", data[8:10])
        start = 10
    else:
        (hl,) = struct.unpack("<I", data[8:12])
        start = 12
    return version, data[start:start + hl].decode("latin-1"), data[start + hl:]


NPY_DESCRS = ["<f4", "<f8", "=f4", "=f8", ">f4", ">f8", "<f2", "<i4", "<i8", "|u1", "|b1", "<c8",
              "|O", "<U3", "|S4", "V8", "f4", "", "<f16", "<f4'", "<f4\x00"]


def mutate_npy(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Header-aware edits of a .npy file (shape, dtype, order, lengths), or plain byte havoc."""
    version, header, payload = split_npy(data)
    op = rng.randrange(12)
    if op <= 3:  # shape entries
        m = re.search(r"'shape':\s*\(([^)]*)\)", header)
        dims = [d.strip() for d in m.group(1).split(",") if d.strip()]
        kind = rng.randrange(5)
        if kind == 0:
            dims[rng.randrange(len(dims))] = str(pick(rng, INTERESTING_INTS))
        elif kind == 1:  # an overflowing product
            a = pick(rng, [2**62, 2**62 + 1, 2**61, 2**32, 2**33, 2**63, 2**64 // 4 + 1])
            dims = [str(a), dims[1]] if rng.random() < 0.5 else [dims[0], str(a)]
        elif kind == 2:
            dims = [str(pick(rng, INTERESTING_INTS)) for _ in range(rng.choice([0, 1, 3, 4]))]
        elif kind == 3:
            dims[rng.randrange(len(dims))] = pick(rng, ["-1", "-4", "1e3", "0x10", "abc", "",
                                                        "18446744073709551616", "99999999999999999999999"])
        else:
            dims = [dims[1], dims[0]]
        shape = "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"
        header = header[:m.start(1) - 1] + shape + header[m.end(1) + 1:]
        return npy_bytes(header, payload, version), f"shape -> {shape}"
    if op == 4:
        d = pick(rng, NPY_DESCRS)
        header = re.sub(r"'descr':\s*'[^']*'", f"'descr': '{d}'", header)
        return npy_bytes(header, payload, version), f"descr -> {d!r}"
    if op == 5:
        v = pick(rng, ["True", "False", "1", "None", "'x'"])
        header = re.sub(r"'fortran_order':\s*\w+", f"'fortran_order': {v}", header)
        return npy_bytes(header, payload, version), f"fortran_order -> {v}"
    if op == 6:
        key = pick(rng, ["descr", "fortran_order", "shape"])
        header = re.sub(rf"'{key}':\s*('[^']*'|\([^)]*\)|\w+),?\s*", "", header)
        return npy_bytes(header, payload, version), f"removed key {key}"
    if op == 7:
        raw = bytearray(data)
        width = 2 if version == 1 else 4
        val = pick(rng, [0, 1, 9, 0xFFFF, 0xFFFFFFFF, 1 << 20, (1 << 20) - 1, len(header) + 64])
        raw[8:8 + width] = (val & ((1 << (8 * width)) - 1)).to_bytes(width, "little")
        return bytes(raw), f"header length field -> {val}"
    if op == 8:
        raw = bytearray(data)
        v = pick(rng, [0, 2, 3, 4, 255])
        raw[6] = v
        return bytes(raw), f"format version -> {v}"
    if op == 9:  # payload: non-finite or extreme values in a valid file
        # Packed in the file's own dtype and byte order (integers get their extremes).
        m = re.search(r"'descr':\s*'([<>|=])([fiu])(\d)'", header)
        order = ">" if m and m.group(1) == ">" else "<"
        kind, width = (m.group(2), int(m.group(3))) if m else ("f", 4)
        if kind == "f":
            fmt = order + {2: "e", 4: "f", 8: "d"}.get(width, "f")
            choices = [float("nan"), float("inf"), -float("inf"), 1e300, -1e300, 3.5e38, 1e-45, 0.0]
        else:
            code = {1: "b", 2: "h", 4: "i", 8: "q"}.get(width, "i")
            fmt = order + (code.upper() if kind == "u" else code)
            bits = 8 * struct.calcsize(fmt)
            choices = [0, 2 ** bits - 1] if kind == "u" else [-(2 ** (bits - 1)), 2 ** (bits - 1) - 1, 0]
        width = struct.calcsize(fmt)
        pl = bytearray(payload)
        count = len(pl) // width
        vals = []
        for _ in range(rng.randint(1, 3)):
            if count == 0:
                break
            k = rng.randrange(count)
            v = pick(rng, choices)
            try:
                pl[k * width:(k + 1) * width] = struct.pack(fmt, v)
            except OverflowError:
                pl[k * width:(k + 1) * width] = struct.pack(fmt, float("inf"))
            vals.append(f"{v!r} at value {k}")
        return npy_bytes(header, bytes(pl), version), "payload: " + ", ".join(vals)
    if op == 10:
        cut = rng.randrange(len(payload) + 1)
        extra = rng.random() < 0.3
        pl = payload + payload[: rng.randrange(64) * 4] if extra else payload[:cut]
        return npy_bytes(header, pl, version), ("payload extended" if extra else f"payload cut to {cut} bytes")
    hot = list(range(0, min(len(data), 10 + len(header) + 2), 4))
    return mutate_bytes(data, rng, hot=hot)


# ---------------------------------------------------------------------------------- PNG

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, body) of each chunk, read leniently; an unparsable tail ends the list."""
    out, pos = [], 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        ctype = data[pos + 4:pos + 8]
        if pos + 12 + length > len(data):
            break
        out.append((ctype, data[pos + 8:pos + 8 + length]))
        pos += 12 + length
    return out


def png_build(chunks: list[tuple[bytes, bytes]], lengths: dict[int, int] | None = None) -> bytes:
    """A PNG from chunks, each with a correct CRC (lengths may override a length field)."""
    out = bytearray(PNG_MAGIC)
    for i, (ctype, body) in enumerate(chunks):
        length = (lengths or {}).get(i, len(body))
        out += struct.pack(">I", length & 0xFFFFFFFF) + ctype + body
        out += struct.pack(">I", zlib.crc32(ctype + body) & 0xFFFFFFFF)
    return bytes(out)


def mutate_png(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    chunks = png_chunks(data)
    op = rng.randrange(12)
    if not chunks or op == 11:
        out, what = mutate_bytes(data, rng, hot=[8, 12, 16, 20, 24, 29])
        return out, "bytes (CRCs left wrong): " + what
    types = [c[0] for c in chunks]
    if op <= 2:  # IHDR fields, CRC fixed
        body = bytearray(chunks[0][1])
        field = rng.randrange(7)
        if field == 0:
            w, h = pick(rng, [(0, 1), (1, 0), (40000, 40000), (100000, 100000), (0x7FFFFFFF, 1),
                              (1, 0x7FFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (65536, 65536),
                              (1, 1), (3, 70000)])
            body[0:8] = struct.pack(">II", w, h)
            what = f"IHDR size {w} x {h}"
        elif field in (1, 2):
            offset = 0 if field == 1 else 4
            v = pick(rng, INTERESTING_INTS) & 0xFFFFFFFF
            body[offset:offset + 4] = struct.pack(">I", v)
            what = f"IHDR {'width' if field == 1 else 'height'} {v}"
        elif field == 3:
            body[8] = pick(rng, [0, 1, 2, 4, 8, 16, 3, 32, 255])
            what = f"IHDR bit depth {body[8]}"
        elif field == 4:
            body[9] = pick(rng, [0, 2, 3, 4, 6, 1, 5, 7, 255])
            what = f"IHDR colour type {body[9]}"
        elif field == 5:
            body[12] = pick(rng, [1, 2, 255])
            what = f"IHDR interlace {body[12]}"
        else:
            body[10 + rng.randrange(2)] = pick(rng, [1, 255])
            what = "IHDR compression/filter method"
        chunks[0] = (chunks[0][0], bytes(body))
        return png_build(chunks), what + " (CRC fixed)"
    if op == 3:  # decompressed image data edited, recompressed: filter bytes and scanlines
        idat = b"".join(b for t, b in chunks if t == b"IDAT")
        try:
            raw = bytearray(zlib.decompress(idat))
        except zlib.error:
            raw = bytearray(idat)
        kind = rng.randrange(4)
        if kind == 0 and raw:
            k = rng.randrange(len(raw))
            raw[k] = pick(rng, [5, 6, 255, 4])
            what = f"filtered byte {k} set to {raw[k]}"
        elif kind == 1:
            cut = rng.randrange(len(raw) + 1)
            raw = raw[:cut]
            what = f"image data cut to {cut} of its bytes"
        elif kind == 2:
            raw += raw * rng.randint(1, 3)
            what = "image data repeated (more rows than the header)"
        else:
            raw = bytearray(rng.randrange(256) for _ in range(len(raw)))
            what = "image data replaced by noise"
        new = zlib.compress(bytes(raw))
        rest = [c for c in chunks if c[0] != b"IDAT"]
        iend = [i for i, c in enumerate(rest) if c[0] == b"IEND"]
        at = iend[0] if iend else len(rest)
        rest.insert(at, (b"IDAT", new))
        return png_build(rest), what + " (recompressed, CRC fixed)"
    if op == 4:  # zlib stream itself corrupted, CRC fixed
        i = pick(rng, [k for k, t in enumerate(types) if t == b"IDAT"] or [0])
        body, what = mutate_bytes(chunks[i][1], rng, hot=[0, 1, 2])
        chunks[i] = (chunks[i][0], body)
        return png_build(chunks), f"IDAT stream: {what} (CRC fixed)"
    if op == 5:
        i = rng.randrange(len(chunks))
        what = f"removed chunk {types[i].decode('latin-1')}"
        del chunks[i]
        return png_build(chunks), what
    if op == 6:
        i = rng.randrange(len(chunks))
        chunks.insert(rng.randrange(len(chunks) + 1), chunks[i])
        return png_build(chunks), f"duplicated chunk {types[i].decode('latin-1')}"
    if op == 7:  # ancillary or palette chunks with odd contents
        ctype, body = pick(rng, [
            (b"PLTE", b""), (b"PLTE", b"\x00" * 769), (b"PLTE", b"\x10\x20\x30"),
            (b"tRNS", b"\xff" * 300), (b"tRNS", b""), (b"gAMA", b"\x00\x00\x00\x00"),
            (b"iCCP", b"x\x00\x00" + b"\x78\x9c" + b"\xff" * 40), (b"sBIT", b"\x00\x20\x20\x20"),
            (b"zTXt", b"k\x00\x00" + b"\x00" * 20), (b"sPLT", b"\x00"), (b"hIST", b"\x00"),
            (b"eXIf", b"MM\x00*" + b"\xff" * 20), (b"acTL", b"\x00" * 8), (b"IEND", b"")])
        chunks.insert(rng.randrange(1, len(chunks) + 1), (ctype, body))
        return png_build(chunks), f"inserted chunk {ctype.decode()} of {len(body)} bytes"
    if op == 8:  # a length field that lies (huge), CRC over the real body
        i = rng.randrange(len(chunks))
        length = pick(rng, [0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, len(chunks[i][1]) + 1, 0])
        return png_build(chunks, {i: length}), f"chunk {types[i].decode('latin-1')} length field {length}"
    if op == 9:  # split the image data into many tiny IDAT chunks, or an empty IDAT
        idat = b"".join(b for t, b in chunks if t == b"IDAT")
        rest = [c for c in chunks if c[0] != b"IDAT"]
        at = [i for i, c in enumerate(rest) if c[0] == b"IEND"]
        pieces = [(b"IDAT", idat[k:k + 1]) for k in range(len(idat))] if rng.random() < 0.5 else [(b"IDAT", b"")]
        rest[at[0] if at else len(rest):at[0] if at else len(rest)] = pieces
        return png_build(rest), f"image data as {len(pieces)} IDAT chunks"
    cut = rng.randrange(8, len(data))
    return data[:cut], f"truncated to {cut} bytes"


# ---------------------------------------------------------------------------------- JPEG

def jpeg_segments(data: bytes) -> list[tuple[int, int]]:
    """(marker offset, marker) of each segment header up to the first scan."""
    out, pos = [], 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        out.append((pos, marker))
        if marker == 0xDA:
            break
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        pos += 2 + length
    return out


def mutate_jpeg(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    segs = jpeg_segments(data)
    by_marker: dict[int, list[int]] = {}
    for off, mk in segs:
        by_marker.setdefault(mk, []).append(off)
    sof = next((off for off, mk in segs if mk in (0xC0, 0xC1, 0xC2)), None)
    sos = by_marker.get(0xDA, [None])[0]
    buf = bytearray(data)
    op = rng.randrange(12)
    if op <= 2 and sof is not None:  # frame header: size, precision, components
        field = rng.randrange(5)
        if field <= 1:
            h, w = pick(rng, [(40000, 40000), (65535, 65535), (0, 16), (16, 0), (1, 65535),
                              (65500, 2), (1, 1), (30000, 30000)])
            buf[sof + 5:sof + 9] = struct.pack(">HH", h, w)
            what = f"SOF size {w} x {h}"
        elif field == 2:
            buf[sof + 4] = pick(rng, [12, 16, 0, 1, 255])
            what = f"SOF precision {buf[sof + 4]}"
        elif field == 3:
            buf[sof + 9] = pick(rng, [0, 2, 4, 5, 255])
            what = f"SOF component count {buf[sof + 9]}"
        else:
            k = sof + 10 + 3 * rng.randrange(max(1, data[sof + 9] if sof + 9 < len(data) else 1)) + 1
            if k < len(buf):
                buf[k] = pick(rng, [0x00, 0x44, 0x41, 0x14, 0xFF, 0x33, 0x12])
            what = "SOF sampling factors"
        return bytes(buf), what
    if op == 3 and sof is not None:  # quantisation table selector
        k = sof + 12
        if k < len(buf):
            buf[k] = pick(rng, [3, 4, 255])
        return bytes(buf), "SOF quantisation table selector"
    if op == 4 and 0xC4 in by_marker:  # Huffman table counts
        off = pick(rng, by_marker[0xC4])
        k = off + 5 + rng.randrange(16)
        if k < len(buf):
            buf[k] = pick(rng, [0, 255, 16, 200])
        return bytes(buf), f"DHT code count at {k} -> {buf[k] if k < len(buf) else '-'}"
    if op == 5 and sos is not None:  # scan header
        k = sos + 4 + rng.randrange(8)
        if k < len(buf):
            buf[k] = pick(rng, [0, 4, 0x44, 0xFF, 63, 64])
        return bytes(buf), f"SOS header byte {k}"
    if op == 6 and segs:  # drop a table or frame segment
        off, mk = pick(rng, [s for s in segs if s[1] != 0xDA] or segs)
        (length,) = struct.unpack(">H", data[off + 2:off + 4])
        del buf[off:off + 2 + length]
        return bytes(buf), f"removed segment FF{mk:02X}"
    if op == 7 and segs:  # segment length field lies
        off, mk = pick(rng, segs)
        val = pick(rng, [0, 1, 2, 0xFFFF, 0x8000])
        buf[off + 2:off + 4] = struct.pack(">H", val)
        return bytes(buf), f"segment FF{mk:02X} length {val}"
    if op == 8 and sos is not None:  # entropy-coded data: markers or noise inside the scan
        start = sos + 2 + struct.unpack(">H", data[sos + 2:sos + 4])[0]
        if start < len(buf) - 4:
            k = rng.randrange(start, len(buf) - 2)
            ins = pick(rng, [b"\xff\xd0", b"\xff\xd9", b"\xff\xd8", b"\xff\xc0", b"\xff\x00" * 8, b"\xff" * 64])
            buf[k:k] = ins
            return bytes(buf), f"inserted {ins[:4].hex()} into the scan at {k}"
    if op == 9:
        cut = rng.randrange(2, len(data))
        return data[:cut], f"truncated to {cut} bytes"
    if op == 10 and sof is not None:  # second frame header, or a progressive/lossless/arithmetic SOF
        mk = pick(rng, [0xC1, 0xC2, 0xC3, 0xC5, 0xC9, 0xCB, 0xCF])
        buf[sof + 1] = mk
        return bytes(buf), f"frame type FF{mk:02X}"
    hot = [off for off, _ in segs]
    out, what = mutate_bytes(data, rng, hot=hot or None)
    return out, "bytes: " + what

# ---------------------------------------------------------------------------------- TIFF

TIFF_SIZE_TAGS = {256: "width", 257: "height", 278: "rows per strip", 322: "tile width", 323: "tile length"}
TIFF_VALUES = {
    258: ("bits per sample", [0, 1, 2, 3, 4, 12, 16, 24, 32, 64, 255, 0xFFFF]),
    259: ("compression", [0, 2, 3, 4, 5, 6, 7, 8, 9, 32773, 32946, 34676, 34712, 34887, 50000, 0xFFFF]),
    262: ("photometric", [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 32844, 32845, 34892, 0xFFFF]),
    277: ("samples per pixel", [0, 1, 2, 3, 4, 5, 9, 64, 0xFFFF]),
    284: ("planar configuration", [0, 1, 2, 3]),
    317: ("predictor", [1, 2, 3, 99]),
    338: ("extra samples", [0, 1, 2, 3]),
    339: ("sample format", [1, 2, 3, 4, 5, 6, 0]),
}


def tiff_entries(data: bytes) -> tuple[str, int, list[tuple[int, int, int, int]]]:
    """(byte order, first IFD offset, [(entry offset, tag, type, count)]) of a classic TIFF."""
    if len(data) < 8 or data[:2] not in (b"II", b"MM"):
        return "<", 0, []
    end = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack(end + "I", data[4:8])
    if ifd + 2 > len(data):
        return end, ifd, []
    (n,) = struct.unpack(end + "H", data[ifd:ifd + 2])
    out = []
    for k in range(n):
        at = ifd + 2 + 12 * k
        if at + 12 > len(data):
            break
        tag, typ, count = struct.unpack(end + "HHI", data[at:at + 8])
        out.append((at, tag, typ, count))
    return end, ifd, out


def _set_value(buf: bytearray, end: str, entry: int, value: int) -> None:
    """One inline value: SHORT when it fits, else LONG (the entry's type changed with it)."""
    typ = 3 if value <= 0xFFFF else 4
    buf[entry + 2:entry + 8] = struct.pack(end + "HI", typ, 1)
    buf[entry + 8:entry + 12] = struct.pack(end + ("HH" if typ == 3 else "I"), *((value, 0) if typ == 3 else (value,)))


def mutate_tiff(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    end, ifd, entries = tiff_entries(data)
    by_tag = {tag: (at, typ, count) for at, tag, typ, count in entries}
    buf = bytearray(data)
    op = rng.randrange(14)
    if op <= 2:  # image, strip or tile sizes
        present = [t for t in TIFF_SIZE_TAGS if t in by_tag]
        if present:
            tag = pick(rng, present)
            value = pick(rng, [0, 1, 3, 17, 65535, 40000, 100000, 0x7FFFFFFF, 0xFFFFFFFF])
            _set_value(buf, end, by_tag[tag][0], value)
            return bytes(buf), f"{TIFF_SIZE_TAGS[tag]} {value}"
    if op in (3, 4, 5):  # what the samples are, how they are compressed
        present = [t for t in TIFF_VALUES if t in by_tag]
        if present:
            tag = pick(rng, present)
            name, values = TIFF_VALUES[tag]
            value = pick(rng, values)
            _set_value(buf, end, by_tag[tag][0], value)
            return bytes(buf), f"{name} {value}"
    if op == 6:  # where the strips or tiles are, and how long
        present = [t for t in (273, 279, 324, 325) if t in by_tag]
        if present:
            tag = pick(rng, present)
            at, typ, count = by_tag[tag]
            if rng.random() < 0.5:
                value = pick(rng, [0, 1, len(data) - 1, len(data), 0x7FFFFFFF, 0xFFFFFFFF])
                _set_value(buf, end, at, value)
                return bytes(buf), f"tag {tag}: one value {value} (of {count})"
            new = pick(rng, [0, 1, count + 1, 0xFFFF, 0x3FFFFFFF, 0xFFFFFFFF])
            buf[at + 4:at + 8] = struct.pack(end + "I", new)
            return bytes(buf), f"tag {tag}: count {count} -> {new}"
    if op == 7 and entries:  # an entry's type or count lies
        at, tag, typ, count = pick(rng, entries)
        if rng.random() < 0.5:
            new = pick(rng, [0, 1, 2, 5, 7, 11, 12, 13, 16, 17, 18, 255])
            buf[at + 2:at + 4] = struct.pack(end + "H", new)
            return bytes(buf), f"tag {tag}: type {typ} -> {new}"
        new = pick(rng, [0, 2, 1000, 0x10000, 0x7FFFFFFF, 0xFFFFFFFF])
        buf[at + 4:at + 8] = struct.pack(end + "I", new)
        return bytes(buf), f"tag {tag}: count {count} -> {new}"
    if op == 8:  # the IFD chain: the first offset, the next-IFD link (loops, out of the file)
        if rng.random() < 0.5 or not entries:
            value = pick(rng, [0, 1, 4, 7, len(data) - 2, len(data), 0xFFFFFFFF])
            buf[4:8] = struct.pack(end + "I", value)
            return bytes(buf), f"first IFD at {value}"
        link = ifd + 2 + 12 * len(entries)
        if link + 4 <= len(buf):
            value = pick(rng, [ifd, 8, link, len(data) - 2, 0xFFFFFFFF])
            buf[link:link + 4] = struct.pack(end + "I", value)
            return bytes(buf), f"next IFD at {value}" + (" (a loop)" if value == ifd else "")
    if op == 9 and entries:  # fewer or more entries than written
        new = pick(rng, [0, 1, len(entries) - 1, len(entries) + 1, 0xFFFF])
        buf[ifd:ifd + 2] = struct.pack(end + "H", new)
        return bytes(buf), f"IFD entry count {len(entries)} -> {new}"
    if op == 10 and entries:  # drop an entry (its tag falls back to libtiff's default, or is missing)
        k = rng.randrange(len(entries))
        at, tag, _, _ = entries[k]
        rest = bytes(buf[at + 12:ifd + 2 + 12 * len(entries)])
        buf[at:at + len(rest)] = rest
        buf[ifd:ifd + 2] = struct.pack(end + "H", len(entries) - 1)
        return bytes(buf), f"removed tag {tag}"
    if op == 11:
        cut = rng.randrange(8, max(9, len(data)))
        return data[:cut], f"truncated to {cut} bytes"
    if op == 12 and entries:  # the compressed data itself
        first = min((struct.unpack(end + "I", data[by_tag[t][0] + 8:by_tag[t][0] + 12])[0]
                     for t in (273, 324) if t in by_tag and by_tag[t][2] == 1), default=8)
        out, what = mutate_bytes(data, rng, hot=[first, 8, len(data) // 2])
        return out, "pixel data: " + what
    hot = [4, ifd] + [at for at, _, _, _ in entries]
    out, what = mutate_bytes(data, rng, hot=hot)
    return out, "bytes: " + what
