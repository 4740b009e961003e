# -*- coding: utf-8 -*-
"""Python 2.7 launcher for wstest (run with the py27 env's python).

  python wstest_local.py -m fuzzingserver -s spec.json -u 0   # like wstest
  python wstest_local.py --list-cases spec.json                # case ids the spec selects

wstest's listeners bind to all interfaces ('') by default; this launcher forces
every TCP/TLS listener that asks for '' onto 127.0.0.1 so nothing is reachable
from outside the machine.
"""
from __future__ import print_function

import json
import sys

LOOPBACK = "127.0.0.1"


def list_cases(spec_path):
    from autobahntestsuite.case import (Cases, CaseCategories, CaseSubCategories,
                                        CaseSetname, CaseBasename)
    from autobahntestsuite.caseset import CaseSet
    with open(spec_path) as f:
        spec = json.load(f)
    cs = CaseSet(CaseSetname, CaseBasename, Cases, CaseCategories, CaseSubCategories)
    for case_id in cs.parseSpecCases(spec):
        print(case_id)


def patch_loopback():
    from twisted.internet import posixbase

    orig_tcp = posixbase.PosixReactorBase.listenTCP
    orig_ssl = posixbase.PosixReactorBase.listenSSL

    def listenTCP(self, port, factory, backlog=50, interface=''):
        return orig_tcp(self, port, factory, backlog, interface or LOOPBACK)

    def listenSSL(self, port, factory, contextFactory, backlog=50, interface=''):
        return orig_ssl(self, port, factory, contextFactory, backlog, interface or LOOPBACK)

    posixbase.PosixReactorBase.listenTCP = listenTCP
    posixbase.PosixReactorBase.listenSSL = listenSSL


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--list-cases":
        list_cases(sys.argv[2])
        return 0
    patch_loopback()
    from autobahntestsuite.wstest import run
    sys.argv[0] = "wstest"
    run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
