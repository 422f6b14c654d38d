"""The deployed functions that plan a whole pool have /tmp room for their spill (deploy/template.yaml).

Restore steps and standby rounds keep both sides of a pool in sqlite files under /tmp (core/spill.py,
core/sides.py): flat in memory, but not on disk. Lambda gives 512 MB of /tmp unless the function asks
for more, and a 1M-user restore step spilled 1.98 GB (measured: `python bench/bench_scale.py --sizes
1000000 --phases restore-apply`, the open spill files of the restore process sampled every 5 s; docs/deploy.md).
A function without the room fails mid-step with "database or disk is full" on the pools that most need it.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_deploy_template import TEMPLATE, load_template

MEASURED_SPILL_MB_AT_1M = 1980  # restore step, 1,000,000 users and as many memberships


@pytest.mark.parametrize("function", ["RestoreFunction", "ReplicateFunction"])
def test_a_function_that_plans_a_whole_pool_has_room_for_a_million_users_spill(function: str) -> None:
    resources: dict[str, Any] = load_template(TEMPLATE.read_text())["Resources"]
    props = resources[function]["Properties"]
    size = int(props.get("EphemeralStorage", {}).get("Size", 512))
    # Twice the measured spill: sqlite's temporary sort space and a journal's fold come on top.
    assert size >= 2 * MEASURED_SPILL_MB_AT_1M, f"{function} has {size} MB of /tmp"
    assert size <= 10240  # Lambda's maximum: a template asking for more does not deploy
