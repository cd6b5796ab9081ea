"""The data-mapping engine and the canonical evidence model (Qt-free, database-free).

The agent executes mappings with it and the console's designer edits the same model offline.

    from server.mapping import MappingSpec, compile_mapping
    compiled = compile_mapping(MappingSpec.model_validate(data))
    result = compiled.apply(record)   # MappingResult(output | None, errors)
"""

from server.mapping.canonical import (
    entity_types,
    field_names,
    load_entity_schema,
    required_fields,
)
from server.mapping.engine import (
    CompiledMapping,
    MappingResult,
    RecordTestResult,
    compile_mapping,
    test_mapping,
)
from server.mapping.errors import FieldError, MappingCompileError, Problem, StepError
from server.mapping.functions import FunctionInfo, list_functions
from server.mapping.model import FieldMapping, MappingSpec, Step, ValidationRules
from server.mapping.validate import required_targets, validate_mapping

__all__ = [
    "CompiledMapping",
    "FieldError",
    "FieldMapping",
    "FunctionInfo",
    "MappingCompileError",
    "MappingResult",
    "MappingSpec",
    "Problem",
    "RecordTestResult",
    "Step",
    "StepError",
    "ValidationRules",
    "compile_mapping",
    "entity_types",
    "field_names",
    "list_functions",
    "load_entity_schema",
    "required_fields",
    "required_targets",
    "test_mapping",
    "validate_mapping",
]
