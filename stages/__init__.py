"""What a proof is made of: field and Tip5 math, the VM, the AIR, LDE, quotient, FRI, prover, verifier."""
