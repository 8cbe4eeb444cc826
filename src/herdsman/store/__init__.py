"""The run store: every teacher call keyed, durable and replayed, so runs resume without paying twice."""
