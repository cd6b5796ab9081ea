"""Configuration as code: export and import (placeholder until part 2)."""

from fastapi import APIRouter

router = APIRouter(prefix="/config", tags=["configuration"])
