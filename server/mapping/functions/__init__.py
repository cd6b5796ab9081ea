"""The transformation function library; importing it registers every built-in function."""

from server.mapping.functions import arrays, convert, dates, logic, text
from server.mapping.functions.registry import (
    FunctionInfo,
    FunctionSpec,
    ParamInfo,
    ParamSpec,
    get_function,
    list_functions,
    register,
)

__all__ = [
    "FunctionInfo",
    "FunctionSpec",
    "ParamInfo",
    "ParamSpec",
    "arrays",
    "convert",
    "dates",
    "get_function",
    "list_functions",
    "logic",
    "register",
    "text",
]
