#!/usr/bin/env python3
"""Owners through golemctl (issue #12): two requestors with two ed25519 keys,
one signing through ssh-agent (a passphrase-protected key), one from its key
file, against a real golem-providerd that refuses unsigned requests
(AllowUnsignedRequests=no) and drives the multipass stand-in
(tests/multipass); each sees and controls only its own VMs, and 'vm ssh-key'
reaches the guest.

    test-trust-owners.py --golemctl golemctl --providerd golem-providerd \\
                         --multipass tests/multipass [CASE]

(``--binary`` is accepted for ``--golemctl``.)  The REST side of the same
rules, with requests signed by ssh-keygen, is test-trust-provider.py; the
same 'vm ssh-key' against a real qemu guest is test-qemu.py.  Run ``--list``
for the case names.
"""

import os
import shutil
import sys

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
from golemworld import (  # noqa: E402
    Agent, Golemctl, Requestor, Standin, case, expect, expect_eq,
    fingerprint, identity, main, make_key, make_tempdir, provider)

PASSPHRASE = "two words"


# --------------------------------------------------------------------------
# the world: one provider, two requestors


def signed_only_provider():
    """A started golem-providerd on a stand-in of its own that refuses
    unsigned requests; returns (provider, stand-in)."""
    mp = Standin(PLAIN=1)
    d = provider(mp=mp, ALLOW_UNSIGNED_REQUESTS="no")
    d.start().wait_ready()
    return d, mp


def requestor(name, agent):
    """A golemctl user with an ed25519 key of its own: with ``agent``, the
    key is protected by a passphrase and held by an ssh-agent of its own,
    which signs (golemctl could not read the key file); else an unencrypted
    key file, no agent."""
    key, _ = make_key(f"{name}@golem", make_tempdir(f"golemtest-{name}-key-"),
                      passphrase=PASSPHRASE if agent else "")
    env = {"GOLEM_REQUESTOR_SSH_KEY_PATH": key}
    if agent:
        agent = Agent()
        agent.add(key, PASSPHRASE)
        env["SSH_AUTH_SOCK"] = agent.sock
    req = Requestor(name=name, env=env)
    req.strict = True
    expect_eq(req.json("id"), {"identity": identity(key + ".pub"), "key": key,
                               "source": "agent" if agent else "file"},
              f"{name}: golemctl id --json")
    return req


def create(req, d, name):
    """``golemctl vm create NAME --provider-url`` of ``d``: the VM runs."""
    req.ok("-q", "vm", "create", name, "--provider-url", d.url)
    vm = req.json("vm", "status", name)
    expect_eq((vm["status"], vm["provider_url"]), ("running", d.url),
              f"{req.what(['vm', 'status', name])}")


def listed(req):
    """{name: status} of ``golemctl vm list``."""
    return {vm["name"]: vm["status"] for vm in req.json("vm", "list")}


def holding_records_of(req, victim):
    """``req``'s golemctl (its key, its agent) with a copy of everything
    ``victim``'s golemctl knows of its VMs (its state dir): which VM is on
    which provider, by which name.  Only the key is missing."""
    state = os.path.join(make_tempdir("golemtest-copied-state-"), "state")
    shutil.copytree(victim.state, state)
    return Golemctl(dict(req.env, XDG_STATE_HOME=state), strict=True)


def key_names(req, vm):
    """{name: fingerprint} of ``golemctl vm ssh-key list VM``."""
    return {k["name"]: k["fingerprint"]
            for k in req.json("vm", "ssh-key", "list", vm)}


def gone_message(d, vm, signer, creator):
    """The one line golemctl prints when the provider does not show a VM to
    the key it signs with (``signer``'s), which is not the one that created
    it (``creator``'s): golemctl recorded that one."""
    return (f"^golemctl: Provider {d.provider_id()} shows no VM {vm} to the key golemctl "
            f"signs with now \\({identity_of(signer)}\\); it was created with key "
            f"{identity_of(creator)}\\. Sign with that key again \\(SSHKeyPath= or ssh-add\\), "
            f"or forget the VM with 'golemctl vm destroy {vm} --force'\\.$")


def identity_of(req):
    return identity(req.env["GOLEM_REQUESTOR_SSH_KEY_PATH"] + ".pub")


# --------------------------------------------------------------------------
# cases


@case
def each_sees_only_its_own(binary):
    d, mp = signed_only_provider()
    alice, bob = requestor("alice", agent=True), requestor("bob", agent=False)
    create(alice, d, "alice-vm")
    create(bob, d, "bob-vm")

    expect_eq(listed(alice), {"alice-vm": "running"}, "alice: vm list")
    expect_eq(listed(bob), {"bob-vm": "running"}, "bob: vm list")
    expect_eq(mp.golem_instances(), {"golem-alice-vm": "Running",
                                     "golem-bob-vm": "Running"},
              "the stand-in's instances")

    # Alice with everything bob's golemctl knows but his key: his VM is
    # missing to her, her own is not.
    spy = holding_records_of(alice, bob)
    expect_eq({vm["name"]: vm["status"] for vm in spy.json("vm", "list")},
              {"bob-vm": "missing"}, "alice's vm list with bob's records")
    gone = gone_message(d, "bob-vm", alice, bob)
    spy.fails(1, "vm", "stop", "bob-vm", message=gone)
    expect_eq(mp.power("bob-vm"), "Running", "bob's VM after alice's stop")
    bob.ok("vm", "stop", "bob-vm")
    spy.fails(1, "vm", "start", "bob-vm", message=gone)
    expect_eq(mp.power("bob-vm"), "Stopped", "bob's VM after alice's start")
    bob.ok("vm", "start", "bob-vm")
    spy.fails(1, "vm", "ssh-key", "list", "bob-vm", message=gone)
    spy.fails(1, "vm", "ssh-key", "add", "bob-vm", alice.env["GOLEM_REQUESTOR_SSH_KEY_PATH"],
              "--name", "intruder", message=gone)
    expect_eq(key_names(bob, "bob-vm"), {}, "bob's keys after alice's add")
    expect("intruder" not in " ".join(mp.guest_keys("bob-vm")),
           "alice's key reached bob's guest")

    # A destroy by alice deletes nothing: the provider does not show the VM
    # to her key, which is not the one that created it, so her golemctl keeps
    # the (copied) record too, unless told to forget it.
    spy.fails(1, "vm", "destroy", "bob-vm", message=gone)
    expect("bob-vm" in [vm["name"] for vm in spy.json("vm", "list", "--local")],
           "the record after a destroy with another key")
    _, err = spy.ok("vm", "destroy", "bob-vm", "--force")
    expect("did not know VM bob-vm" in err, f"alice's destroy --force: {err!r}")
    expect_eq(mp.power("bob-vm"), "Running", "bob's VM after alice's destroy")
    expect_eq(listed(bob), {"bob-vm": "running"},
              "bob: vm list after alice's tries")

    # Bob (signing from his key file) controls his own, and alice's is as
    # missing to him.
    bob.ok("vm", "stop", "bob-vm")
    expect_eq(mp.power("bob-vm"), "Stopped", "bob's VM after his stop")
    bob.ok("vm", "start", "bob-vm")
    spy = holding_records_of(bob, alice)
    spy.fails(1, "vm", "stop", "alice-vm", message=gone_message(d, "alice-vm", bob, alice))
    expect_eq(listed(alice), {"alice-vm": "running"},
              "alice: vm list after bob's stop")
    bob.ok("vm", "destroy", "bob-vm")
    expect_eq(listed(bob), {}, "bob: vm list after his destroy")
    expect_eq(mp.golem_instances(), {"golem-alice-vm": "Running"},
              "the stand-in's instances after bob's destroy")
    # Alice (through her agent) deletes hers.
    alice.ok("vm", "destroy", "alice-vm")
    expect_eq(mp.golem_instances(), {}, "the stand-in's instances at the end")


def ssh_key_verbs(req, d, mp):
    """add, list, remove of a second key on a VM of ``req``'s, seen by
    golemctl and in the stand-in's guest; a private key refused."""
    create(req, d, "keyed")
    laptop, laptop_pub = make_key("laptop@golem",
                                  make_tempdir("golemtest-laptop-"), "laptop")

    out, _ = req.ok("vm", "ssh-key", "add", "keyed", laptop + ".pub",
                    "--name", "laptop")
    expect_eq(out, "", "vm ssh-key add: stdout")
    expect_eq(key_names(req, "keyed"), {"laptop": fingerprint(laptop + ".pub")},
              "vm ssh-key list: the name and ssh-keygen -lf's fingerprint")
    table, _ = req.ok("vm", "ssh-key", "list", "keyed")
    expect("laptop" in table and fingerprint(laptop + ".pub") in table,
           f"vm ssh-key list (table): {table!r}")
    expect(laptop_pub in mp.guest_keys("keyed"),
           f"the key is not in the guest's authorized_keys: "
           f"{mp.guest_keys('keyed')!r}")

    # A private key whose .pub is not beside it: refused, nothing sent.
    secret = os.path.join(make_tempdir("golemtest-secret-"), "secret")
    shutil.copy(laptop, secret)
    req.fails(1, "vm", "ssh-key", "add", "keyed", secret, "--name", "secret",
              message=r"^golemctl: SSH key \S+/secret is a private key.*"
              r"golemctl sends only public keys: give the \.pub")
    expect_eq(set(key_names(req, "keyed")), {"laptop"},
              "the keys after the private key was refused")
    with open(secret) as f:
        private = f.read()
    guest = "\n".join(mp.guest_keys("keyed"))
    expect("PRIVATE KEY" not in guest and private.strip() not in guest,
           "a private key reached the guest")
    expect("PRIVATE KEY" not in d.stderr(), "a private key in the log")

    req.ok("vm", "ssh-key", "remove", "keyed", "laptop")
    expect_eq(key_names(req, "keyed"), {}, "vm ssh-key list after the removal")
    expect(laptop_pub not in mp.guest_keys("keyed"),
           "the removed key is still in the guest's authorized_keys")
    req.ok("vm", "destroy", "keyed")


@case
def ssh_key_through_agent(binary):
    d, mp = signed_only_provider()
    ssh_key_verbs(requestor("carol", agent=True), d, mp)


@case
def ssh_key_from_key_file(binary):
    d, mp = signed_only_provider()
    ssh_key_verbs(requestor("dave", agent=False), d, mp)


if __name__ == "__main__":
    raise SystemExit(main(paths=("providerd", "multipass"), binary="golemctl"))
