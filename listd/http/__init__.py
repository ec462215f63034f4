"""The HTTP kernel under every room that serves routes (`api`, `notifications`, `console`).

`state`: typed app and request keys, the journal note; `body`: reading and checking
request bodies; `fields`: typed field specs that both validate and emit JSON Schema;
`table`: the table of operations (method, path, roles, flags, parameters, body,
answers) from which the role checks, the gate's policy and `openapi` are generated.
Nothing here imports the rooms above it.
"""
