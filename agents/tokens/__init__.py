"""API tokens shared by every worker through one compacted topic (see ``topic_table``)."""
