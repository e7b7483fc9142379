"""An agent as a Prefect flow run: the plan, the flow, and the state written back to the store."""
