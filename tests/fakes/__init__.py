"""Hand-written fakes of outside services (Twilio) that tests run on 127.0.0.1."""
