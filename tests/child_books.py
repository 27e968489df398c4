"""The parent and child runbooks of the child-runbook tests (in the engine, and on a
worker): the parent starts `child` on its `target` with `opsconsole run` and waits."""

PARENT = """#!/bin/sh
# /// runbook
# [parameters.target]
# type = "string"
# default = "localhost"
# [parameters.child_fails]
# type = "bool"
# default = false
# ///
echo "parent $OPS_JOB_ID starts"
if opsconsole run child "$OPS_PARAM_TARGET" -p fail="$OPS_PARAM_CHILD_FAILS"; then
    echo "child completed"
else
    echo "child failed with $?"
    exit 4
fi
"""

CHILD = """#!/bin/sh
# /// runbook
# [parameters.fail]
# type = "bool"
# default = false
# ///
echo "child of $OPS_JOB_ID"
[ "$OPS_PARAM_FAIL" = false ]
"""
