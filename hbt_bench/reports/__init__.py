"""Reports that read stored mteb results and compare them (layer 6: reads plugin/ helpers, imports lazily)."""
