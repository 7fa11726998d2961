"""Privacy: pseudonyms, keys, sealing, the identity vault, the plaintext guard, the audit log.

What may leave a person's identity and under which key. It imports only the foundation
(contract, policy, personnummer, layout); everything else imports it.
"""
