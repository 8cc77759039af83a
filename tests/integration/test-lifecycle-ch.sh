#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The VM lifecycle integration test against the cloud-hypervisor STAND-IN
# (tests/cloud-hypervisor-standin), in a disposable systemd container; see
# test-lifecycle.sh. Usage: tests/integration/test-lifecycle-ch.sh [BUILD_DIR]
exec "$(dirname "${BASH_SOURCE[0]}")/test-lifecycle.sh" --cloud-hypervisor "$@"
