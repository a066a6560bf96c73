"""Reading findings: explain, the upstream issue draft and the HTML report."""
