"""One turn of the agent, as a pipeline of small steps (``agent.service.Agent`` runs them).

load (:mod:`.load`) -> prompt (:mod:`.prompt`) -> rounds (:mod:`.rounds`) of plan
(:mod:`.plan`) -> execute (:mod:`.execute`) -> reflect (:mod:`.reflect`) -> respond
(:mod:`.respond`, the cards from :mod:`.cards`) -> save (:mod:`.save`). The turn's data
lives in :mod:`.state`; each step takes it and the agent's collaborators explicitly, so a
step is tested on its own.
"""
