"""Column indices of the master main and aux tables of Triton VM v7.0.0.

Every enum value is the column's index in the MASTER table (table offset included), member names and
order follow the reference's `table_column.rs`.
"""

from __future__ import annotations

from enum import IntEnum

NUM_MAIN_BASE_COLUMNS = 149
NUM_AUX_BASE_COLUMNS = 49
NUM_MAIN_DEGREE_LOWERING_COLUMNS = 230
NUM_AUX_DEGREE_LOWERING_COLUMNS = 41
DEGREE_LOWERING_MAIN_START = 149
DEGREE_LOWERING_MAIN_END = 379
DEGREE_LOWERING_AUX_START = 49
DEGREE_LOWERING_AUX_END = 90
RANDOMIZER_AUX_COLUMN = 90
NUM_MASTER_MAIN_COLUMNS = 379
NUM_MASTER_AUX_COLUMNS = 91

TABLE_NAMES = ("Program", "Processor", "OpStack", "Ram", "JumpStack", "Hash", "Cascade", "Lookup", "U32")

MAIN_TABLE_START = {
    "Program": 0, "Processor": 7, "OpStack": 46, "Ram": 50, "JumpStack": 57,
    "Hash": 62, "Cascade": 129, "Lookup": 135, "U32": 139,
}
AUX_TABLE_START = {
    "Program": 0, "Processor": 3, "OpStack": 14, "Ram": 16, "JumpStack": 22,
    "Hash": 24, "Cascade": 44, "Lookup": 46, "U32": 48,
}

_LIMBS = ("Highest", "MidHigh", "MidLow", "Lowest")

_MAIN_NAMES: dict[str, list[str]] = {
    "Program": [
        "Address", "Instruction", "LookupMultiplicity", "IndexInChunk", "MaxMinusIndexInChunkInv",
        "IsHashInputPadding", "IsTablePadding",
    ],
    "Processor": (
        ["CLK", "IsPadding", "IP", "CI", "NIA"]
        + [f"IB{i}" for i in range(7)]
        + ["JSP", "JSO", "JSD"]
        + [f"ST{i}" for i in range(16)]
        + ["OpStackPointer"]
        + [f"HV{i}" for i in range(6)]
        + ["ClockJumpDifferenceLookupMultiplicity"]
    ),
    "OpStack": ["CLK", "IB1ShrinkStack", "StackPointer", "FirstUnderflowElement"],
    "Ram": [
        "CLK", "InstructionType", "RamPointer", "RamValue", "InverseOfRampDifference",
        "BezoutCoefficientPolynomialCoefficient0", "BezoutCoefficientPolynomialCoefficient1",
    ],
    "JumpStack": ["CLK", "CI", "JSP", "JSO", "JSD"],
    "Hash": (
        ["Mode", "CI", "RoundNumber"]
        + [f"State{i}{limb}LkIn" for i in range(4) for limb in _LIMBS]
        + [f"State{i}{limb}LkOut" for i in range(4) for limb in _LIMBS]
        + [f"State{i}" for i in range(4, 16)]
        + [f"State{i}Inv" for i in range(4)]
        + [f"Constant{i}" for i in range(16)]
    ),
    "Cascade": ["IsPadding", "LookInHi", "LookInLo", "LookOutHi", "LookOutLo", "LookupMultiplicity"],
    "Lookup": ["IsPadding", "LookIn", "LookOut", "LookupMultiplicity"],
    "U32": ["CopyFlag", "Bits", "BitsMinus33Inv", "CI", "LHS", "LhsInv", "RHS", "RhsInv", "Result",
            "LookupMultiplicity"],
}

_AUX_NAMES: dict[str, list[str]] = {
    "Program": [
        "InstructionLookupServerLogDerivative", "PrepareChunkRunningEvaluation", "SendChunkRunningEvaluation",
    ],
    "Processor": [
        "InputTableEvalArg", "OutputTableEvalArg", "InstructionLookupClientLogDerivative",
        "OpStackTablePermArg", "RamTablePermArg", "JumpStackTablePermArg", "HashInputEvalArg",
        "HashDigestEvalArg", "SpongeEvalArg", "U32LookupClientLogDerivative",
        "ClockJumpDifferenceLookupServerLogDerivative",
    ],
    "OpStack": ["RunningProductPermArg", "ClockJumpDifferenceLookupClientLogDerivative"],
    "Ram": [
        "RunningProductOfRAMP", "FormalDerivative", "BezoutCoefficient0", "BezoutCoefficient1",
        "RunningProductPermArg", "ClockJumpDifferenceLookupClientLogDerivative",
    ],
    "JumpStack": ["RunningProductPermArg", "ClockJumpDifferenceLookupClientLogDerivative"],
    "Hash": (
        ["ReceiveChunkRunningEvaluation", "HashInputRunningEvaluation", "HashDigestRunningEvaluation",
         "SpongeRunningEvaluation"]
        + [f"CascadeState{i}{limb}ClientLogDerivative" for i in range(4) for limb in _LIMBS]
    ),
    "Cascade": ["HashTableServerLogDerivative", "LookupTableClientLogDerivative"],
    "Lookup": ["CascadeTableServerLogDerivative", "PublicEvaluationArgument"],
    "U32": ["LookupServerLogDerivative"],
}


def _enum(name: str, names: list[str], start: int) -> type[IntEnum]:
    return IntEnum(name, [(n, start + i) for i, n in enumerate(names)], module=__name__)


ProgramMain = _enum("ProgramMain", _MAIN_NAMES["Program"], 0)
ProcessorMain = _enum("ProcessorMain", _MAIN_NAMES["Processor"], 7)
OpStackMain = _enum("OpStackMain", _MAIN_NAMES["OpStack"], 46)
RamMain = _enum("RamMain", _MAIN_NAMES["Ram"], 50)
JumpStackMain = _enum("JumpStackMain", _MAIN_NAMES["JumpStack"], 57)
HashMain = _enum("HashMain", _MAIN_NAMES["Hash"], 62)
CascadeMain = _enum("CascadeMain", _MAIN_NAMES["Cascade"], 129)
LookupMain = _enum("LookupMain", _MAIN_NAMES["Lookup"], 135)
U32Main = _enum("U32Main", _MAIN_NAMES["U32"], 139)

ProgramAux = _enum("ProgramAux", _AUX_NAMES["Program"], 0)
ProcessorAux = _enum("ProcessorAux", _AUX_NAMES["Processor"], 3)
OpStackAux = _enum("OpStackAux", _AUX_NAMES["OpStack"], 14)
RamAux = _enum("RamAux", _AUX_NAMES["Ram"], 16)
JumpStackAux = _enum("JumpStackAux", _AUX_NAMES["JumpStack"], 22)
HashAux = _enum("HashAux", _AUX_NAMES["Hash"], 24)
CascadeAux = _enum("CascadeAux", _AUX_NAMES["Cascade"], 44)
LookupAux = _enum("LookupAux", _AUX_NAMES["Lookup"], 46)
U32Aux = _enum("U32Aux", _AUX_NAMES["U32"], 48)

MAIN_ENUMS: dict[str, type[IntEnum]] = {
    "Program": ProgramMain, "Processor": ProcessorMain, "OpStack": OpStackMain, "Ram": RamMain,
    "JumpStack": JumpStackMain, "Hash": HashMain, "Cascade": CascadeMain, "Lookup": LookupMain,
    "U32": U32Main,
}
AUX_ENUMS: dict[str, type[IntEnum]] = {
    "Program": ProgramAux, "Processor": ProcessorAux, "OpStack": OpStackAux, "Ram": RamAux,
    "JumpStack": JumpStackAux, "Hash": HashAux, "Cascade": CascadeAux, "Lookup": LookupAux,
    "U32": U32Aux,
}


def main_column_names() -> list[str]:
    """Names "Table.Column" of master main columns 0..149, as in the vectors' meta.json."""
    return [f"{t}.{m.name}" for t in TABLE_NAMES for m in MAIN_ENUMS[t]]


def aux_column_names() -> list[str]:
    """Names "Table.Column" of master aux columns 0..49, as in the vectors' meta.json."""
    return [f"{t}.{m.name}" for t in TABLE_NAMES for m in AUX_ENUMS[t]]
