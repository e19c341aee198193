"""The adversarial suite: attacks by a hostile model, workspace, caller, provider or network
peer, each judged from outside the sandbox (the outside file, the listener, the server still
answering `ping`, its peak memory)."""
