"""tvmpd supervisor: daemon, wire protocol, scheduler, children, control socket and CLI."""
