"""What keeps a trial's code from holding up or ending the session: the trial's deadline, and the stop
on ``os._exit`` called in the harness's own process."""
