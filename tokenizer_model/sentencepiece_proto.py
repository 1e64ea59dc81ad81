"""Reads the fields of a SentencePiece `.model` file (a `ModelProto`) that the tokenizer needs.

The `sentencepiece` wheel's generated `sentencepiece_model_pb2` needs the `protobuf` package,
which is not a dependency here, so this decodes the protobuf wire format directly for the few
fields used (numbers and defaults from `sentencepiece_model.proto`, proto2).
"""

from __future__ import annotations

import dataclasses
import struct

WIRE_VARINT, WIRE_FIXED64, WIRE_LENGTH, WIRE_FIXED32 = 0, 1, 2, 5


class ProtoError(ValueError):
    pass


@dataclasses.dataclass
class Piece:
    text: str
    score: float = 0.0
    type: int = 1  # NORMAL


@dataclasses.dataclass
class TrainerSpec:
    model_type: int = 1  # UNIGRAM
    treat_whitespace_as_suffix: bool = False
    byte_fallback: bool = False
    unk_surface: str = " \u2047 "
    bos_piece: str = "<s>"
    eos_piece: str = "</s>"


@dataclasses.dataclass
class NormalizerSpec:
    name: str = ""
    precompiled_charsmap: bytes = b""
    add_dummy_prefix: bool = True
    remove_extra_whitespaces: bool = True
    escape_whitespaces: bool = True


@dataclasses.dataclass
class ModelProto:
    pieces: list[Piece]
    trainer: TrainerSpec
    normalizer: NormalizerSpec
    denormalizer: NormalizerSpec | None


def _fields(data: bytes):
    """Yields (field number, wire type, value) of one message; LENGTH values are bytes."""
    position = 0

    def varint() -> int:
        nonlocal position
        result, shift = 0, 0
        while True:
            if position >= len(data):
                raise ProtoError("truncated varint")
            byte = data[position]
            position += 1
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                return result
            shift += 7

    while position < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == WIRE_VARINT:
            yield number, wire, varint()
        elif wire == WIRE_FIXED64:
            yield number, wire, data[position:position + 8]
            position += 8
        elif wire == WIRE_LENGTH:
            length = varint()
            if position + length > len(data):
                raise ProtoError("truncated length-delimited field")
            yield number, wire, data[position:position + length]
            position += length
        elif wire == WIRE_FIXED32:
            yield number, wire, data[position:position + 4]
            position += 4
        else:
            raise ProtoError(f"unsupported wire type {wire}")


def _piece(data: bytes) -> Piece:
    piece = Piece("")
    for number, wire, value in _fields(data):
        if number == 1 and wire == WIRE_LENGTH:
            piece.text = value.decode("utf-8")
        elif number == 2 and wire == WIRE_FIXED32:
            piece.score = struct.unpack("<f", value)[0]
        elif number == 3 and wire == WIRE_VARINT:
            piece.type = value
    return piece


def _trainer(data: bytes) -> TrainerSpec:
    spec = TrainerSpec()
    for number, wire, value in _fields(data):
        if number == 3 and wire == WIRE_VARINT:
            spec.model_type = value
        elif number == 24 and wire == WIRE_VARINT:
            spec.treat_whitespace_as_suffix = bool(value)
        elif number == 35 and wire == WIRE_VARINT:
            spec.byte_fallback = bool(value)
        elif number == 44 and wire == WIRE_LENGTH:
            spec.unk_surface = value.decode("utf-8")
        elif number == 46 and wire == WIRE_LENGTH:
            spec.bos_piece = value.decode("utf-8")
        elif number == 47 and wire == WIRE_LENGTH:
            spec.eos_piece = value.decode("utf-8")
    return spec


def _normalizer(data: bytes) -> NormalizerSpec:
    spec = NormalizerSpec()
    for number, wire, value in _fields(data):
        if number == 1 and wire == WIRE_LENGTH:
            spec.name = value.decode("utf-8")
        elif number == 2 and wire == WIRE_LENGTH:
            spec.precompiled_charsmap = bytes(value)
        elif number == 3 and wire == WIRE_VARINT:
            spec.add_dummy_prefix = bool(value)
        elif number == 4 and wire == WIRE_VARINT:
            spec.remove_extra_whitespaces = bool(value)
        elif number == 5 and wire == WIRE_VARINT:
            spec.escape_whitespaces = bool(value)
    return spec


def parse_model(data: bytes) -> ModelProto:
    pieces: list[Piece] = []
    trainer, normalizer, denormalizer = TrainerSpec(), NormalizerSpec(), None
    for number, wire, value in _fields(data):
        if wire != WIRE_LENGTH:
            continue
        if number == 1:
            pieces.append(_piece(value))
        elif number == 2:
            trainer = _trainer(value)
        elif number == 3:
            normalizer = _normalizer(value)
        elif number == 5:
            denormalizer = _normalizer(value)
    return ModelProto(pieces, trainer, normalizer, denormalizer)
