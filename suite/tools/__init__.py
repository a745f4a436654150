"""Tools that read profiles and never measure: compare, history, terminal tables, the roofline plot."""
