"""Events and subscriptions: the outbox, filters, actions and the worker that runs them."""
