"""The visitor's rights: the privacy API and page, their texts, the DPO's CLI."""
