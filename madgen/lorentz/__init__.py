"""The ``lorentz`` stage: UFO Lorentz structures -> symbolic helicity routines."""

from madgen.lorentz.routines import RoutineRequest, RoutineSpec, build_routine

__all__ = ["RoutineRequest", "RoutineSpec", "build_routine"]
