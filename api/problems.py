"""The one place where a domain problem (`models.errors.Problem`) becomes an HTTP answer."""

from fastapi import Request
from fastapi.responses import JSONResponse

from models.errors import Conflict, Forbidden, Invalid, NotFound, Problem, TooLarge, Unavailable

STATUS: dict[type[Problem], int] = {
    Invalid: 422,
    TooLarge: 413,
    NotFound: 404,
    Forbidden: 403,
    Conflict: 409,
    Unavailable: 503,
}


def status_of(problem: Problem) -> int:
    """The HTTP status of a problem (by the first of its kinds that has one; 400 otherwise)."""
    for kind in type(problem).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 400


async def problem_answer(request: Request, error: Exception) -> JSONResponse:
    """A problem raised below the routes, as `{"detail": ...}` with its status."""
    assert isinstance(error, Problem)
    return JSONResponse({"detail": error.detail}, status_code=status_of(error))
