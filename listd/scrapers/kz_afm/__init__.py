"""The Kazakhstan AFM (Financial Monitoring Agency) lists: one module per list, and what they share.

`tf`: organisations and persons linked to financing of terrorism and extremism (category 1);
`pta`: participants in terrorist activity (category 2); `pf`: persons linked to proliferation
financing. `records` holds the loading, validation, note reading and merging all three use.
"""
