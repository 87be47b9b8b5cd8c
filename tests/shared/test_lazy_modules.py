"""A deferred module is imported only when a name is read from it, and then works as the real one."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.procs import ROOT

pytestmark = pytest.mark.e2e  # starts interpreters


def run(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return done.stdout.split()


def test_redis_imports_pyjwt_as_a_stand_in_that_loads_on_first_use() -> None:
    code = (
        "import sys, shared, redis.asyncio, redis.auth.token\n"
        "print('jwt.api_jwt' in sys.modules, 'cryptography.hazmat' in sys.modules)\n"
        "import jwt\n"
        "token = jwt.encode({'sub': 'x'}, 'k' * 32, algorithm='HS256')\n"
        "print(jwt.decode(token, 'k' * 32, algorithms=['HS256'])['sub'], 'jwt.api_jwt' in sys.modules)\n"
        "from jwt import PyJWT\n"
        "print(PyJWT.__module__, redis.auth.token.jwt.decode is jwt.decode)\n"
    )
    assert run(code) == ["False", "False", "x", "True", "jwt.api_jwt", "True"]


def test_a_module_imported_before_is_left_alone() -> None:
    code = (
        "import sys, jwt\n"
        "real = sys.modules['jwt']\n"
        "from shared.lazy_modules import defer\n"
        "defer(('jwt', 'no_such_module_here'))\n"
        "print(sys.modules['jwt'] is real, 'no_such_module_here' in sys.modules)\n"
    )
    assert run(code) == ["True", "False"]
